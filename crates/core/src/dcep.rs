//! The Data Channel Establishment Protocol messages (RFC 8832 §5).
//!
//! Kept small and local until `ferrtc-datachannel` exports its codec: core
//! only needs DATA_CHANNEL_OPEN and DATA_CHANNEL_ACK.

use std::time::Duration;

use ferrtc_sctp::Reliability;

use crate::error::Error;

/// Message type of DATA_CHANNEL_OPEN (RFC 8832 §8.2.1).
const OPEN: u8 = 0x03;
/// Message type of DATA_CHANNEL_ACK.
const ACK: u8 = 0x02;
/// Fixed part of DATA_CHANNEL_OPEN before label and protocol (RFC 8832 §5.1).
const OPEN_HEADER_LEN: usize = 12;
/// Bit of the channel type meaning "unordered" (RFC 8832 §5.1).
const UNORDERED_BIT: u8 = 0x80;

/// A parsed DCEP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// DATA_CHANNEL_OPEN (RFC 8832 §5.1).
    Open(Open),
    /// DATA_CHANNEL_ACK (RFC 8832 §5.2).
    Ack,
}

/// The contents of a DATA_CHANNEL_OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Open {
    pub(crate) ordered: bool,
    pub(crate) reliability: Reliability,
    pub(crate) priority: u16,
    pub(crate) label: String,
    pub(crate) protocol: String,
}

impl Message {
    /// Parses a DCEP message (PPID 50). Never panics; trailing bytes after
    /// the declared label and protocol are refused.
    pub(crate) fn parse(data: &[u8]) -> Result<Self, Error> {
        match data.first() {
            Some(&ACK) if data.len() == 1 => Ok(Message::Ack),
            Some(&OPEN) => Open::parse(data).map(Message::Open),
            Some(other) => Err(Error::Dcep(format!("unknown message type {other:#04x}"))),
            None => Err(Error::Dcep("empty message".into())),
        }
    }

    /// Writes the message into `out` (cleared first).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Message::Ack => out.push(ACK),
            Message::Open(open) => open.write(out),
        }
    }
}

impl Open {
    fn parse(data: &[u8]) -> Result<Self, Error> {
        let header = data
            .get(..OPEN_HEADER_LEN)
            .ok_or_else(|| Error::Dcep("DATA_CHANNEL_OPEN too short".into()))?;
        let channel_type = header[1];
        let priority = u16::from_be_bytes([header[2], header[3]]);
        let param = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let label_len = usize::from(u16::from_be_bytes([header[8], header[9]]));
        let protocol_len = usize::from(u16::from_be_bytes([header[10], header[11]]));
        let rest = &data[OPEN_HEADER_LEN..];
        if rest.len() != label_len + protocol_len {
            return Err(Error::Dcep(
                "DATA_CHANNEL_OPEN label/protocol lengths do not match".into(),
            ));
        }
        let (label, protocol) = rest.split_at(label_len);
        let text = |b: &[u8]| {
            String::from_utf8(b.to_vec())
                .map_err(|_| Error::Dcep("label or protocol is not UTF-8".into()))
        };
        // RFC 8832 §5.1 channel types: low bits say the reliability policy.
        let reliability = match channel_type & !UNORDERED_BIT {
            0x00 => Reliability::Reliable,
            0x01 => Reliability::MaxRetransmits(u16::try_from(param).unwrap_or(u16::MAX)),
            0x02 => Reliability::MaxLifetime(Duration::from_millis(u64::from(param))),
            other => {
                return Err(Error::Dcep(format!("unknown channel type {other:#04x}")));
            }
        };
        Ok(Open {
            ordered: channel_type & UNORDERED_BIT == 0,
            reliability,
            priority,
            label: text(label)?,
            protocol: text(protocol)?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        let (kind, param) = match self.reliability {
            Reliability::Reliable => (0x00, 0),
            Reliability::MaxRetransmits(n) => (0x01, u32::from(n)),
            Reliability::MaxLifetime(d) => (0x02, u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
        };
        let kind = if self.ordered {
            kind
        } else {
            kind | UNORDERED_BIT
        };
        // Lengths are bounded by `create_data_channel` (65,535 bytes each).
        let label_len = u16::try_from(self.label.len()).unwrap_or(u16::MAX);
        let protocol_len = u16::try_from(self.protocol.len()).unwrap_or(u16::MAX);
        out.push(OPEN);
        out.push(kind);
        out.extend_from_slice(&self.priority.to_be_bytes());
        out.extend_from_slice(&param.to_be_bytes());
        out.extend_from_slice(&label_len.to_be_bytes());
        out.extend_from_slice(&protocol_len.to_be_bytes());
        out.extend_from_slice(&self.label.as_bytes()[..usize::from(label_len)]);
        out.extend_from_slice(&self.protocol.as_bytes()[..usize::from(protocol_len)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: Message) {
        let mut buf = Vec::new();
        m.write(&mut buf);
        assert_eq!(Message::parse(&buf).unwrap(), m);
    }

    #[test]
    fn open_and_ack_round_trip_for_every_reliability() {
        round_trip(Message::Ack);
        for reliability in [
            Reliability::Reliable,
            Reliability::MaxRetransmits(0),
            Reliability::MaxLifetime(Duration::from_millis(1500)),
        ] {
            for ordered in [true, false] {
                round_trip(Message::Open(Open {
                    ordered,
                    reliability,
                    priority: 256,
                    label: "chat é".into(),
                    protocol: "json".into(),
                }));
            }
        }
    }

    #[test]
    fn chromium_open_for_an_unordered_zero_retransmit_channel_parses() {
        // Type 0x81 (partial reliable rexmit, unordered), priority 256,
        // maxRetransmits 0, label "u", no protocol.
        let bytes = [3, 0x81, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, b'u'];
        let Message::Open(open) = Message::parse(&bytes).unwrap() else {
            panic!("not an OPEN")
        };
        assert!(!open.ordered);
        assert_eq!(open.reliability, Reliability::MaxRetransmits(0));
        assert_eq!(open.label, "u");
    }

    #[test]
    fn truncated_or_padded_open_is_refused() {
        let mut buf = Vec::new();
        Message::Open(Open {
            ordered: true,
            reliability: Reliability::Reliable,
            priority: 0,
            label: "abc".into(),
            protocol: String::new(),
        })
        .write(&mut buf);
        for cut in 0..buf.len() {
            assert!(Message::parse(&buf[..cut]).is_err(), "cut at {cut}");
        }
        buf.push(0);
        assert!(Message::parse(&buf).is_err());
        assert!(Message::parse(&[2, 0]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics_and_round_trips(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Ok(m) = Message::parse(&data) {
                let mut buf = Vec::new();
                m.write(&mut buf);
                proptest::prop_assert_eq!(Message::parse(&buf).unwrap(), m);
            }
        }

        #[test]
        fn any_open_round_trips(
            ordered in proptest::bool::ANY,
            kind in 0u8..3,
            param in proptest::num::u16::ANY,
            label in "\\PC{0,20}",
            protocol in "\\PC{0,10}",
        ) {
            let reliability = match kind {
                0 => Reliability::Reliable,
                1 => Reliability::MaxRetransmits(param),
                _ => Reliability::MaxLifetime(Duration::from_millis(u64::from(param))),
            };
            let m = Message::Open(Open { ordered, reliability, priority: 0, label, protocol });
            let mut buf = Vec::new();
            m.write(&mut buf);
            proptest::prop_assert_eq!(Message::parse(&buf).unwrap(), m);
        }
    }
}
