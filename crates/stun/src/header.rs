//! The 20-byte STUN header: message type (class and method), length, magic
//! cookie and transaction id (RFC 8489 §5).

use core::fmt;

/// The fixed magic cookie in every RFC 5389/8489 STUN header (RFC 8489 §5).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Size of the STUN header in bytes (RFC 8489 §5).
pub const HEADER_LEN: usize = 20;

/// The 96-bit transaction id that pairs a response with its request
/// (RFC 8489 §5, §6.3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// The id's bytes, in wire order.
    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl From<[u8; 12]> for TransactionId {
    fn from(bytes: [u8; 12]) -> Self {
        TransactionId(bytes)
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The class of a STUN message: the C1/C0 bits of the message type
/// (RFC 8489 §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Class {
    /// A request (0b00): expects a success or error response.
    Request,
    /// An indication (0b01): no response.
    Indication,
    /// A success response (0b10).
    SuccessResponse,
    /// An error response (0b11): carries an ERROR-CODE.
    ErrorResponse,
}

impl Class {
    /// The two class bits, C1 C0, as a number 0..=3.
    pub const fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::SuccessResponse => 0b10,
            Class::ErrorResponse => 0b11,
        }
    }

    /// The class whose C1 C0 bits are the two low bits of `bits`.
    pub const fn from_bits(bits: u16) -> Class {
        match bits & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::SuccessResponse,
            _ => Class::ErrorResponse,
        }
    }
}

/// A STUN method: the 12 method bits of the message type (RFC 8489 §5,
/// IANA "STUN Methods" registry).
///
/// Only the low 12 bits are meaningful; higher bits are dropped when encoded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Method(pub u16);

impl Method {
    /// Binding (RFC 8489 §18.2), used by STUN and ICE connectivity checks.
    pub const BINDING: Method = Method(0x001);
    /// TURN Allocate (RFC 8656 §17).
    pub const ALLOCATE: Method = Method(0x003);
    /// TURN Refresh (RFC 8656 §17).
    pub const REFRESH: Method = Method(0x004);
    /// TURN Send indication (RFC 8656 §17).
    pub const SEND: Method = Method(0x006);
    /// TURN Data indication (RFC 8656 §17).
    pub const DATA: Method = Method(0x007);
    /// TURN CreatePermission (RFC 8656 §17).
    pub const CREATE_PERMISSION: Method = Method(0x008);
    /// TURN ChannelBind (RFC 8656 §17).
    pub const CHANNEL_BIND: Method = Method(0x009);
}

/// Encodes class and method into the 14-bit message type (RFC 8489 §5,
/// figure 3: M11..M7 C1 M6..M4 C0 M3..M0).
pub(crate) const fn message_type(class: Class, method: Method) -> u16 {
    let m = method.0 & 0x0FFF;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
}

/// Splits a 14-bit message type into class and method (RFC 8489 §5).
pub(crate) const fn split_message_type(typ: u16) -> (Class, Method) {
    let m = (typ & 0x000F) | ((typ >> 1) & 0x0070) | ((typ >> 2) & 0x0F80);
    let c = ((typ >> 4) & 0b01) | ((typ >> 7) & 0b10);
    (Class::from_bits(c), Method(m))
}

/// Cheap test of whether a datagram looks like a STUN message, for the
/// RFC 7983 demultiplexer: top two bits zero, length field a multiple of 4
/// that matches the datagram, and the RFC 8489 magic cookie.
///
/// It does not walk the attributes; [`crate::Message::parse`] does.
pub fn is_stun_message(datagram: &[u8]) -> bool {
    let Some(h) = datagram.get(..HEADER_LEN) else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let cookie = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    h[0] & 0xC0 == 0 && len % 4 == 0 && HEADER_LEN + len == datagram.len() && cookie == MAGIC_COOKIE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_request_type_is_0x0001_and_success_response_is_0x0101() {
        assert_eq!(message_type(Class::Request, Method::BINDING), 0x0001);
        assert_eq!(
            message_type(Class::SuccessResponse, Method::BINDING),
            0x0101
        );
        assert_eq!(message_type(Class::ErrorResponse, Method::BINDING), 0x0111);
        assert_eq!(message_type(Class::Indication, Method::SEND), 0x0016);
        assert_eq!(message_type(Class::Indication, Method::DATA), 0x0017);
    }

    #[test]
    fn message_type_round_trips_for_every_class_and_method() {
        for m in 0..0x1000u16 {
            for c in [
                Class::Request,
                Class::Indication,
                Class::SuccessResponse,
                Class::ErrorResponse,
            ] {
                let t = message_type(c, Method(m));
                assert!(t < 0x4000);
                assert_eq!(split_message_type(t), (c, Method(m)));
            }
        }
    }

    #[test]
    fn is_stun_message_rejects_wrong_cookie_length_and_top_bits() {
        let mut msg = [0u8; 20];
        msg[1] = 0x01;
        msg[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        assert!(is_stun_message(&msg));
        assert!(!is_stun_message(&msg[..19]));
        let mut bad = msg;
        bad[0] = 0x40;
        assert!(!is_stun_message(&bad));
        let mut bad = msg;
        bad[4] = 0;
        assert!(!is_stun_message(&bad));
        let mut bad = msg;
        bad[3] = 4;
        assert!(!is_stun_message(&bad));
    }
}
