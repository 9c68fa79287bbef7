//! Which peers a relay may talk to (RFC 8656 §21.3 "Relaying to
//! Forbidden Addresses"): a TURN server must not become a way into the
//! networks behind it, so loopback, private, link-local and other special
//! ranges are refused unless the operator allows them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The peer address policy of a server: what `--allow-loopback` and
/// `--allow-private` open up. Everything else that is not a routable
/// unicast address (unspecified, multicast, broadcast, documentation,
/// reserved) is always refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Allow 127.0.0.0/8 and ::1 (tests, a peer on the same host).
    pub allow_loopback: bool,
    /// Allow RFC 1918, RFC 6598 shared (100.64/10), fc00::/7 unique local and
    /// the link-local ranges 169.254/16 and fe80::/10.
    pub allow_private: bool,
}

/// Why a peer address is refused (counted per reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// Loopback without `allow_loopback`.
    Loopback,
    /// Private, shared or link-local without `allow_private`.
    Private,
    /// Never relayed: unspecified, multicast, broadcast, reserved,
    /// documentation, port 0.
    Special,
}

impl PeerPolicy {
    /// `Ok` if data may be relayed to `ip`, else why not.
    pub fn check(&self, ip: IpAddr) -> Result<(), Forbidden> {
        // An IPv4-mapped IPv6 address is judged as the IPv4 address it holds.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match classify(ip) {
            Class::Public => Ok(()),
            Class::Loopback if self.allow_loopback => Ok(()),
            Class::Loopback => Err(Forbidden::Loopback),
            Class::Private if self.allow_private => Ok(()),
            Class::Private => Err(Forbidden::Private),
            Class::Special => Err(Forbidden::Special),
        }
    }
}

enum Class {
    Public,
    Loopback,
    Private,
    Special,
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b)) {
        Class::Private
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
    {
        Class::Special
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    if ip.is_loopback() {
        Class::Loopback
    } else if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 {
        Class::Private
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || s[0] == 0x2001 && s[1] == 0x0db8
        || (s[0] & 0xe000) != 0x2000
    {
        // Outside 2000::/3, global unicast, nothing is routable today.
        Class::Special
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_loopback_private_link_local_and_special_by_default() {
        let p = PeerPolicy::default();
        assert_eq!(p.check(ip("127.0.0.1")), Err(Forbidden::Loopback));
        assert_eq!(p.check(ip("::1")), Err(Forbidden::Loopback));
        assert_eq!(p.check(ip("::ffff:127.0.0.1")), Err(Forbidden::Loopback));
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
        ] {
            assert_eq!(p.check(ip(private)), Err(Forbidden::Private), "{private}");
        }
        for special in [
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "240.0.0.1",
            "::",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert_eq!(p.check(ip(special)), Err(Forbidden::Special), "{special}");
        }
        assert_eq!(p.check(ip("8.8.8.8")), Ok(()));
        assert_eq!(p.check(ip("2a00:1450::1")), Ok(()));
    }

    #[test]
    fn the_allow_flags_open_only_their_ranges() {
        let p = PeerPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert_eq!(p.check(ip("127.0.0.2")), Ok(()));
        assert_eq!(p.check(ip("10.0.0.1")), Err(Forbidden::Private));
        let p = PeerPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        assert_eq!(p.check(ip("10.0.0.1")), Ok(()));
        assert_eq!(p.check(ip("fe80::1")), Ok(()));
        assert_eq!(p.check(ip("127.0.0.1")), Err(Forbidden::Loopback));
        let all = PeerPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        assert_eq!(all.check(ip("0.0.0.0")), Err(Forbidden::Special));
        assert_eq!(all.check(ip("239.1.1.1")), Err(Forbidden::Special));
    }
}
