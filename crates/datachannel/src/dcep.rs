//! The Data Channel Establishment Protocol messages (RFC 8832 §5).

use std::time::Duration;

use crate::Error;

/// Message type of DATA_CHANNEL_OPEN (RFC 8832 §5.1).
pub const MSG_OPEN: u8 = 0x03;
/// Message type of DATA_CHANNEL_ACK (RFC 8832 §5.2).
pub const MSG_ACK: u8 = 0x02;

/// The channel's delivery semantics, as the DCEP channel type and
/// reliability parameter carry them (RFC 8832 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelType {
    /// `DATA_CHANNEL_RELIABLE` (0x00) or `_UNORDERED` (0x80).
    #[default]
    Reliable,
    /// `DATA_CHANNEL_PARTIAL_RELIABLE_REXMIT` (0x01 / 0x81): at most this many retransmissions.
    MaxRetransmits(u16),
    /// `DATA_CHANNEL_PARTIAL_RELIABLE_TIMED` (0x02 / 0x82): lifetime in milliseconds.
    MaxPacketLifeTime(u16),
}

/// DATA_CHANNEL_OPEN (RFC 8832 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Whether messages are delivered in order.
    pub ordered: bool,
    /// Reliability policy.
    pub channel_type: ChannelType,
    /// Priority (RFC 8831 §6.4; W3C `priority` maps 128/256/512/1024).
    pub priority: u16,
    /// The channel's label.
    pub label: String,
    /// The sub-protocol.
    pub protocol: String,
}

/// A DCEP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcepMessage {
    /// DATA_CHANNEL_OPEN.
    Open(Open),
    /// DATA_CHANNEL_ACK.
    Ack,
}

impl DcepMessage {
    /// Parses a DCEP message (PPID 50). Never panics; rejects trailing bytes.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        let (&ty, rest) = b.split_first().ok_or(Error::Truncated("DCEP message"))?;
        match ty {
            MSG_ACK => {
                if rest.is_empty() {
                    Ok(Self::Ack)
                } else {
                    Err(Error::Malformed("DATA_CHANNEL_ACK with trailing bytes"))
                }
            }
            MSG_OPEN => {
                if rest.len() < 11 {
                    return Err(Error::Truncated("DATA_CHANNEL_OPEN"));
                }
                let ct = rest[0];
                let priority = u16::from_be_bytes([rest[1], rest[2]]);
                let param = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]);
                let label_len = usize::from(u16::from_be_bytes([rest[7], rest[8]]));
                let proto_len = usize::from(u16::from_be_bytes([rest[9], rest[10]]));
                let body = &rest[11..];
                if body.len() != label_len + proto_len {
                    return Err(Error::Malformed("DATA_CHANNEL_OPEN lengths do not match"));
                }
                let (label, protocol) = body.split_at(label_len);
                let label = String::from_utf8(label.to_vec())
                    .map_err(|_| Error::Malformed("label is not UTF-8"))?;
                let protocol = String::from_utf8(protocol.to_vec())
                    .map_err(|_| Error::Malformed("protocol is not UTF-8"))?;
                let clamp = |p: u32| u16::try_from(p).unwrap_or(u16::MAX);
                let channel_type = match ct & 0x7f {
                    0x00 => ChannelType::Reliable,
                    0x01 => ChannelType::MaxRetransmits(clamp(param)),
                    0x02 => ChannelType::MaxPacketLifeTime(clamp(param)),
                    _ => return Err(Error::Malformed("unknown channel type")),
                };
                Ok(Self::Open(Open {
                    ordered: ct & 0x80 == 0,
                    channel_type,
                    priority,
                    label,
                    protocol,
                }))
            }
            _ => Err(Error::Malformed("unknown DCEP message type")),
        }
    }

    /// Appends the wire form to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ack => out.push(MSG_ACK),
            Self::Open(o) => {
                out.push(MSG_OPEN);
                let (ty, param) = match o.channel_type {
                    ChannelType::Reliable => (0x00, 0),
                    ChannelType::MaxRetransmits(n) => (0x01, u32::from(n)),
                    ChannelType::MaxPacketLifeTime(ms) => (0x02, u32::from(ms)),
                };
                out.push(if o.ordered { ty } else { ty | 0x80 });
                out.extend_from_slice(&o.priority.to_be_bytes());
                out.extend_from_slice(&param.to_be_bytes());
                let label = truncate(&o.label);
                let protocol = truncate(&o.protocol);
                out.extend_from_slice(&(label.len() as u16).to_be_bytes());
                out.extend_from_slice(&(protocol.len() as u16).to_be_bytes());
                out.extend_from_slice(label);
                out.extend_from_slice(protocol);
            }
        }
    }
}

fn truncate(s: &str) -> &[u8] {
    let b = s.as_bytes();
    &b[..b.len().min(usize::from(u16::MAX))]
}

impl ChannelType {
    /// The DCEP channel type announcing an SCTP reliability policy (RFC 8832
    /// §5.1), the inverse of [`ChannelType::reliability`].
    ///
    /// DCEP carries the lifetime as whole milliseconds and W3C limits
    /// `maxPacketLifeTime` to an `unsigned short`: the lifetime is rounded
    /// down to a millisecond and saturates at 65,535 ms.
    pub fn from_reliability(reliability: ferrtc_sctp::Reliability) -> Self {
        match reliability {
            ferrtc_sctp::Reliability::Reliable => Self::Reliable,
            ferrtc_sctp::Reliability::MaxRetransmits(n) => Self::MaxRetransmits(n),
            ferrtc_sctp::Reliability::MaxLifetime(d) => {
                Self::MaxPacketLifeTime(u16::try_from(d.as_millis()).unwrap_or(u16::MAX))
            }
        }
    }

    /// The SCTP reliability for messages of this channel.
    pub fn reliability(self) -> ferrtc_sctp::Reliability {
        match self {
            Self::Reliable => ferrtc_sctp::Reliability::Reliable,
            Self::MaxRetransmits(n) => ferrtc_sctp::Reliability::MaxRetransmits(n),
            Self::MaxPacketLifeTime(ms) => {
                ferrtc_sctp::Reliability::MaxLifetime(Duration::from_millis(u64::from(ms)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ferrtc_sctp::Reliability;

    use super::*;

    #[test]
    fn open_round_trips() {
        let m = DcepMessage::Open(Open {
            ordered: false,
            channel_type: ChannelType::MaxRetransmits(3),
            priority: 256,
            label: "chat".into(),
            protocol: "json".into(),
        });
        let mut b = Vec::new();
        m.write(&mut b);
        assert_eq!(b[1], 0x81, "unordered partial reliable rexmit");
        assert_eq!(DcepMessage::parse(&b).unwrap(), m);
    }

    #[test]
    fn open_from_rfc8832_layout_parses() {
        // Reliable ordered, priority 0, label "a", protocol "".
        let b = [3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, b'a'];
        let DcepMessage::Open(o) = DcepMessage::parse(&b).unwrap() else {
            panic!()
        };
        assert!(o.ordered);
        assert_eq!(o.label, "a");
        assert_eq!(o.channel_type, ChannelType::Reliable);
    }

    #[test]
    fn lengths_that_do_not_match_are_rejected() {
        let b = [3, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, b'a'];
        assert!(DcepMessage::parse(&b).is_err());
    }

    #[test]
    fn channel_type_and_sctp_reliability_convert_both_ways() {
        for ct in [
            ChannelType::Reliable,
            ChannelType::MaxRetransmits(0),
            ChannelType::MaxRetransmits(u16::MAX),
            ChannelType::MaxPacketLifeTime(1500),
            ChannelType::MaxPacketLifeTime(u16::MAX),
        ] {
            assert_eq!(ChannelType::from_reliability(ct.reliability()), ct);
        }
    }

    #[test]
    fn lifetimes_dcep_cannot_carry_round_down_and_saturate() {
        let lifetime = |d| ChannelType::from_reliability(Reliability::MaxLifetime(d));
        assert_eq!(
            lifetime(Duration::from_micros(1_999)),
            ChannelType::MaxPacketLifeTime(1)
        );
        assert_eq!(
            lifetime(Duration::from_secs(100)),
            ChannelType::MaxPacketLifeTime(u16::MAX)
        );
    }

    #[test]
    fn chromium_open_for_an_unordered_zero_retransmit_channel_parses() {
        // Type 0x81 (partial reliable rexmit, unordered), priority 256,
        // maxRetransmits 0, label "u", no protocol.
        let b = [3, 0x81, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, b'u'];
        let DcepMessage::Open(o) = DcepMessage::parse(&b).unwrap() else {
            panic!("not an OPEN")
        };
        assert!(!o.ordered);
        assert_eq!(o.channel_type, ChannelType::MaxRetransmits(0));
        assert_eq!(o.priority, 256);
        assert_eq!(o.label, "u");
        assert_eq!(o.protocol, "");
    }

    #[test]
    fn every_truncation_and_trailing_byte_of_an_open_is_refused() {
        let mut b = Vec::new();
        DcepMessage::Open(Open {
            ordered: true,
            channel_type: ChannelType::Reliable,
            priority: 0,
            label: "abc".into(),
            protocol: "p".into(),
        })
        .write(&mut b);
        for cut in 0..b.len() {
            assert!(DcepMessage::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
        b.push(0);
        assert!(DcepMessage::parse(&b).is_err());
    }

    #[test]
    fn unknown_channel_and_message_types_are_refused() {
        let mut b = Vec::new();
        DcepMessage::Open(Open {
            ordered: true,
            channel_type: ChannelType::Reliable,
            priority: 0,
            label: String::new(),
            protocol: String::new(),
        })
        .write(&mut b);
        assert!(DcepMessage::parse(&b).is_ok());
        b[1] = 0x03;
        assert!(DcepMessage::parse(&b).is_err(), "channel type 0x03");
        b[1] = 0x83;
        assert!(DcepMessage::parse(&b).is_err(), "channel type 0x83");
        assert!(DcepMessage::parse(&[0x01]).is_err(), "message type 0x01");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_what_parses_round_trips(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            if let Ok(m) = DcepMessage::parse(&data) {
                let mut b = Vec::new();
                m.write(&mut b);
                proptest::prop_assert_eq!(DcepMessage::parse(&b).unwrap(), m);
            }
        }

        #[test]
        fn any_open_round_trips(
            ordered in proptest::bool::ANY,
            kind in 0u8..3,
            param in proptest::num::u16::ANY,
            priority in proptest::num::u16::ANY,
            label in "\\PC{0,20}",
            protocol in "\\PC{0,10}",
        ) {
            let channel_type = match kind {
                0 => ChannelType::Reliable,
                1 => ChannelType::MaxRetransmits(param),
                _ => ChannelType::MaxPacketLifeTime(param),
            };
            let m = DcepMessage::Open(Open { ordered, channel_type, priority, label, protocol });
            let mut b = Vec::new();
            m.write(&mut b);
            proptest::prop_assert_eq!(DcepMessage::parse(&b).unwrap(), m);
        }
    }

    #[test]
    fn ack_is_one_byte() {
        assert_eq!(DcepMessage::parse(&[2]).unwrap(), DcepMessage::Ack);
        assert!(DcepMessage::parse(&[2, 0]).is_err());
        assert!(DcepMessage::parse(&[]).is_err());
    }
}
