//! Address attribute values: MAPPED-ADDRESS and the XOR-*-ADDRESS family
//! (RFC 8489 §14.1, §14.2; RFC 8656 §18.3, §18.5).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::{Error, MAGIC_COOKIE, TransactionId};

/// Family byte for IPv4 in address attributes (RFC 8489 §14.1).
const FAMILY_IPV4: u8 = 0x01;
/// Family byte for IPv6 in address attributes (RFC 8489 §14.1).
const FAMILY_IPV6: u8 = 0x02;

/// An IP address family as carried by STUN/TURN attributes
/// (RFC 8489 §14.1, RFC 8656 §18.6 REQUESTED-ADDRESS-FAMILY).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AddressFamily {
    /// IPv4, encoded 0x01.
    Ipv4,
    /// IPv6, encoded 0x02.
    Ipv6,
}

impl AddressFamily {
    /// The family byte on the wire.
    pub const fn to_u8(self) -> u8 {
        match self {
            AddressFamily::Ipv4 => FAMILY_IPV4,
            AddressFamily::Ipv6 => FAMILY_IPV6,
        }
    }

    /// Decodes a family byte; `typ` names the attribute for the error.
    pub(crate) fn from_u8(typ: u16, family: u8) -> Result<Self, Error> {
        match family {
            FAMILY_IPV4 => Ok(AddressFamily::Ipv4),
            FAMILY_IPV6 => Ok(AddressFamily::Ipv6),
            _ => Err(Error::UnknownAddressFamily { typ, family }),
        }
    }

    /// The family of an IP address.
    pub const fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }
}

/// The 16 bytes an address is XORed with: magic cookie then transaction id
/// (RFC 8489 §14.2). IPv4 uses only the first four.
fn xor_mask(tid: &TransactionId) -> [u8; 16] {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(&tid.0);
    mask
}

/// Decodes a (possibly XORed) address value: reserved byte, family, port,
/// address (RFC 8489 §14.1, §14.2).
pub(crate) fn decode(
    typ: u16,
    value: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, Error> {
    let invalid_len = Error::InvalidAttributeLength {
        typ,
        len: value.len(),
    };
    let (head, rest) = value
        .split_first_chunk::<4>()
        .ok_or_else(|| invalid_len.clone())?;
    let [_reserved, family, p0, p1] = *head;
    let family = AddressFamily::from_u8(typ, family)?;
    let mask = xor.map(xor_mask);
    let mut port = u16::from_be_bytes([p0, p1]);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match family {
        AddressFamily::Ipv4 => {
            let mut b: [u8; 4] = rest.try_into().map_err(|_| invalid_len)?;
            if let Some(mask) = mask {
                b.iter_mut().zip(mask).for_each(|(x, m)| *x ^= m);
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        AddressFamily::Ipv6 => {
            let mut b: [u8; 16] = rest.try_into().map_err(|_| invalid_len)?;
            if let Some(mask) = mask {
                b.iter_mut().zip(mask).for_each(|(x, m)| *x ^= m);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    Ok(SocketAddr::new(ip, port))
}

/// Appends a (possibly XORed) address value to `out`.
pub(crate) fn encode(addr: &SocketAddr, xor: Option<&TransactionId>, out: &mut Vec<u8>) {
    let mask = xor.map(xor_mask);
    let mut port = addr.port();
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    out.push(0);
    out.push(AddressFamily::of(&addr.ip()).to_u8());
    out.extend_from_slice(&port.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => {
            let mut b = ip.octets();
            if let Some(mask) = mask {
                b.iter_mut().zip(mask).for_each(|(x, m)| *x ^= m);
            }
            out.extend_from_slice(&b);
        }
        IpAddr::V6(ip) => {
            let mut b = ip.octets();
            if let Some(mask) = mask {
                b.iter_mut().zip(mask).for_each(|(x, m)| *x ^= m);
            }
            out.extend_from_slice(&b);
        }
    }
}
