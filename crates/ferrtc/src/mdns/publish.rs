//! Our host candidates signalled under mDNS names instead of their
//! addresses (draft-ietf-mmusic-mdns-ice-candidates §3.1.1), as browsers
//! do: the ICE agent keeps its IP bases and checks from them; only the
//! `icecandidate` lines the application sees are rewritten, here, where
//! the driver hands them out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrtc_core::IceCandidateInit;

use super::responder::RegisterError;
use super::service::MdnsResponder;

/// A connection's names: one per host address, registered with the
/// responder at first use and kept for the connection's life (an ICE
/// restart gathers the same addresses under the same names); the responder
/// says goodbye to them when the publisher is dropped with its connection.
#[derive(Debug)]
pub(crate) struct Publisher {
    responder: MdnsResponder,
    names: Vec<(IpAddr, String)>,
}

impl Publisher {
    pub(crate) fn new(responder: MdnsResponder) -> Publisher {
        Publisher {
            responder,
            names: Vec::new(),
        }
    }

    /// The candidate as the application may see it: a host candidate with
    /// its address's name (registered now if it is the first candidate on
    /// that address); a server-reflexive one with `raddr 0.0.0.0 rport 0`
    /// (`::` for IPv6), since its related address is a host address (the
    /// draft's privacy goal; Chromium writes the same). Other candidates,
    /// and the end of candidates, pass unchanged. `None` when the name
    /// could not be registered: the candidate is then not exposed at all
    /// (§3.1.1 step 4).
    pub(crate) fn conceal(&mut self, c: IceCandidateInit) -> Option<IceCandidateInit> {
        let mut fields: Vec<String> = c.candidate.split(' ').map(str::to_owned).collect();
        let (Some(address), Some(kind)) = (fields.get(4), fields.get(7)) else {
            return Some(c);
        };
        match kind.as_str() {
            "host" => {
                let Ok(ip) = address.parse::<IpAddr>() else {
                    return Some(c);
                };
                match self.name_for(ip) {
                    Ok(name) => fields[4] = name,
                    Err(e) => {
                        tracing::warn!("host candidate on {ip} not signalled: {e}");
                        return None;
                    }
                }
            }
            "srflx" => {
                // The extensions come in name/value pairs after the type.
                for i in (8..fields.len().saturating_sub(1)).step_by(2) {
                    let zero = match (fields[i].as_str(), fields[i + 1].parse::<IpAddr>()) {
                        ("raddr", Ok(IpAddr::V6(_))) => Ipv6Addr::UNSPECIFIED.to_string(),
                        ("raddr", _) => Ipv4Addr::UNSPECIFIED.to_string(),
                        ("rport", _) => "0".to_owned(),
                        _ => continue,
                    };
                    fields[i + 1] = zero;
                }
            }
            _ => return Some(c),
        }
        Some(IceCandidateInit {
            candidate: fields.join(" "),
            ..c
        })
    }

    /// The name of `ip`, made and registered at its first use
    /// (§3.1.1 steps 1, 2, 3 and 5): a version 4 UUID followed by `.local`.
    fn name_for(&mut self, ip: IpAddr) -> Result<String, RegisterError> {
        if let Some((_, name)) = self.names.iter().find(|(a, _)| *a == ip) {
            return Ok(name.clone());
        }
        // 122 random bits: a name taken already is a broken RNG, but one
        // more draw costs nothing.
        let mut result = Err(RegisterError::Full);
        for _ in 0..2 {
            // The operating system's CSPRNG, never the connection's seed:
            // connections seeded alike must not publish the same names.
            let name = format!(
                "{}.local",
                ferrtc_media::track::uuid_from_bytes(rand::random())
            );
            result = self.responder.register(&name, ip).map(|()| name);
            if !matches!(result, Err(RegisterError::Taken(_))) {
                break;
            }
        }
        let name = result?;
        tracing::debug!("host address {ip} published as {name}");
        self.names.push((ip, name.clone()));
        Ok(name)
    }
}

impl Drop for Publisher {
    /// The connection is gone: its names are no longer answered, and the
    /// responder announces their goodbye (RFC 6762 §10.1).
    fn drop(&mut self) {
        self.responder
            .unregister(self.names.iter().map(|(_, n)| n.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(line: &str) -> IceCandidateInit {
        IceCandidateInit {
            candidate: line.into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: Some("abcd".into()),
        }
    }

    fn is_uuid_v4_local(name: &str) -> bool {
        let Some(uuid) = name.strip_suffix(".local") else {
            return false;
        };
        let groups: Vec<&str> = uuid.split('-').collect();
        groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
            && uuid.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
            && groups[2].starts_with('4')
            && groups[3].starts_with(['8', '9', 'a', 'b'])
    }

    #[tokio::test(flavor = "current_thread")]
    async fn host_addresses_get_one_uuid_name_each_for_the_connections_life() {
        let responder = MdnsResponder::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let mut p = Publisher::new(responder.clone());
        let a = p
            .conceal(init(
                "candidate:1 1 udp 2130706431 192.168.1.23 5000 typ host generation 0",
            ))
            .unwrap();
        let fields: Vec<&str> = a.candidate.split(' ').collect();
        assert!(is_uuid_v4_local(fields[4]), "{}", a.candidate);
        assert_eq!(fields[..4], ["candidate:1", "1", "udp", "2130706431"]);
        assert_eq!(fields[5..], ["5000", "typ", "host", "generation", "0"]);
        assert_eq!(a.sdp_mid.as_deref(), Some("0"));
        assert_eq!(a.username_fragment.as_deref(), Some("abcd"));
        // The same address (another port, after a restart): the same name.
        let b = p
            .conceal(init(
                "candidate:2 1 udp 2130706431 192.168.1.23 6000 typ host",
            ))
            .unwrap();
        assert_eq!(b.candidate.split(' ').nth(4), Some(fields[4]));
        // Another address: another name.
        let c = p
            .conceal(init("candidate:3 1 udp 2130706431 fd00::1 6000 typ host"))
            .unwrap();
        let other = c.candidate.split(' ').nth(4).unwrap();
        assert!(is_uuid_v4_local(other) && other != fields[4]);
        assert_eq!(responder.names(), 2);
        // Another connection on the same responder names its own addresses.
        let mut q = Publisher::new(responder.clone());
        let d = q
            .conceal(init(
                "candidate:1 1 udp 2130706431 192.168.1.23 7000 typ host",
            ))
            .unwrap();
        assert_ne!(d.candidate.split(' ').nth(4), Some(fields[4]));
        assert_eq!(responder.names(), 3);
        drop(p);
        assert_eq!(
            responder.names(),
            1,
            "the first connection's names are gone"
        );
        drop(q);
        assert_eq!(responder.names(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn server_reflexive_candidates_hide_their_related_address() {
        let responder = MdnsResponder::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let mut p = Publisher::new(responder);
        let c = p
            .conceal(init(
                "candidate:7 1 udp 1694498815 203.0.113.7 61665 typ srflx raddr 192.168.1.23 rport 5000 generation 0",
            ))
            .unwrap();
        assert_eq!(
            c.candidate,
            "candidate:7 1 udp 1694498815 203.0.113.7 61665 typ srflx raddr 0.0.0.0 rport 0 generation 0"
        );
        let c6 = p
            .conceal(init(
                "candidate:8 1 udp 1694498815 2001:db8::7 61665 typ srflx raddr fd00::1 rport 5000",
            ))
            .unwrap();
        assert!(
            c6.candidate.ends_with("typ srflx raddr :: rport 0"),
            "{}",
            c6.candidate
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn relayed_candidates_and_the_end_of_candidates_pass_unchanged() {
        let responder = MdnsResponder::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let mut p = Publisher::new(responder.clone());
        for line in [
            "candidate:9 1 udp 16777215 198.51.100.4 50000 typ relay raddr 203.0.113.7 rport 61665",
            "",
        ] {
            assert_eq!(p.conceal(init(line)).unwrap().candidate, line);
        }
        assert_eq!(responder.names(), 0);
    }
}
