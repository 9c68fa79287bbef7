//! Typed values of the RTP header extensions WebRTC negotiates (`a=extmap`),
//! each with its URI and a read/write pair over the element's bytes.

use thiserror::Error;

use crate::packet::{ExtensionId, Extensions};

/// Why an extension element's bytes are not a value of its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ExtensionError {
    /// The element has the wrong length for the type.
    #[error("{uri}: {len} bytes")]
    BadLength {
        /// The extension's URI.
        uri: &'static str,
        /// The element's length.
        len: usize,
    },
    /// Characters the identifier grammar does not allow.
    #[error("{uri}: invalid identifier")]
    BadIdentifier {
        /// The extension's URI.
        uri: &'static str,
    },
    /// A value out of its range when writing.
    #[error("{uri}: value out of range")]
    OutOfRange {
        /// The extension's URI.
        uri: &'static str,
    },
}

/// The media identification extension (RFC 9143 §15, RFC 8843): the mid.
pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// The RTP stream identifier extension (RFC 8852 §3.1): the rid.
pub const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
/// The repaired RTP stream identifier extension (RFC 8852 §3.2).
pub const REPAIRED_RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
/// The absolute send time extension (webrtc.org abs-send-time).
pub const ABS_SEND_TIME_URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
/// The transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2).
pub const TRANSPORT_CC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// Client-to-mixer audio level (RFC 6464).
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// Mixer-to-client audio levels (RFC 6465).
pub const CSRC_AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:csrc-audio-level";
/// Coordination of video orientation (3GPP TS 26.114 §7.4.5).
pub const VIDEO_ORIENTATION_URI: &str = "urn:3gpp:video-orientation";
/// The playout delay limits (webrtc.org playout-delay).
pub const PLAYOUT_DELAY_URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";

fn bad_len(uri: &'static str, len: usize) -> ExtensionError {
    ExtensionError::BadLength { uri, len }
}

/// An SDES-style identifier carried in an extension: the mid (RFC 8843), the
/// rid or the repaired rid (RFC 8852). 1 to 255 bytes of `A-Z a-z 0-9 - _`
/// (RFC 8851 §10 rid-syntax; mids in practice follow it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identifier<'a>(&'a str);

impl<'a> Identifier<'a> {
    /// Validates `text` as an identifier for extension `uri`.
    pub fn new(uri: &'static str, text: &'a str) -> Result<Self, ExtensionError> {
        Self::read(uri, text.as_bytes())
    }

    /// Reads the element bytes. Trailing zero bytes are padding some senders
    /// leave; they are dropped.
    pub fn read(uri: &'static str, data: &'a [u8]) -> Result<Self, ExtensionError> {
        let end = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        let data = &data[..end];
        if data.is_empty() || data.len() > 255 {
            return Err(bad_len(uri, data.len()));
        }
        if !data
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return Err(ExtensionError::BadIdentifier { uri });
        }
        std::str::from_utf8(data)
            .map(Self)
            .map_err(|_| ExtensionError::BadIdentifier { uri })
    }

    /// The identifier text.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// The element bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }
}

/// The abs-send-time value: 24 bits, seconds in 6.18 fixed point, wrapping
/// every 64 s (the NTP timestamp's middle bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsSendTime(u32);

impl AbsSendTime {
    /// From a 64-bit NTP timestamp (RFC 3550 §4): bits 14..38.
    pub fn from_ntp(ntp: u64) -> Self {
        Self(((ntp >> 14) & 0x00ff_ffff) as u32)
    }

    /// From a duration since any epoch, wrapped at 64 s.
    pub fn from_duration(d: std::time::Duration) -> Self {
        let frac = (u64::from(d.subsec_nanos()) << 18) / 1_000_000_000;
        Self((((d.as_secs() % 64) << 18 | frac) & 0x00ff_ffff) as u32)
    }

    /// The raw 24-bit value.
    pub fn raw(self) -> u32 {
        self.0
    }

    /// Reads the 3-byte element.
    pub fn read(data: &[u8]) -> Result<Self, ExtensionError> {
        match data {
            [a, b, c] => Ok(Self(u32::from_be_bytes([0, *a, *b, *c]))),
            _ => Err(bad_len(ABS_SEND_TIME_URI, data.len())),
        }
    }

    /// The 3-byte element.
    pub fn write(self) -> [u8; 3] {
        let [_, a, b, c] = self.0.to_be_bytes();
        [a, b, c]
    }
}

/// The transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportSequence(pub u16);

impl TransportSequence {
    /// Reads the 2-byte element.
    pub fn read(data: &[u8]) -> Result<Self, ExtensionError> {
        match data {
            [a, b] => Ok(Self(u16::from_be_bytes([*a, *b]))),
            _ => Err(bad_len(TRANSPORT_CC_URI, data.len())),
        }
    }

    /// The 2-byte element.
    pub fn write(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

/// A sender's audio level (RFC 6464 §3): the voice activity flag and the
/// level in -dBov, 0 (loudest) to 127 (silence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// The V bit: the encoder believes the packet holds voice.
    pub voice: bool,
    level: u8,
}

impl AudioLevel {
    /// A level in -dBov (0..=127), or `None` above 127.
    pub fn new(voice: bool, level: u8) -> Option<Self> {
        (level < 128).then_some(Self { voice, level })
    }

    /// The level in -dBov.
    pub fn level(self) -> u8 {
        self.level
    }

    /// Reads the element: one byte, maybe followed by padding bytes.
    pub fn read(data: &[u8]) -> Result<Self, ExtensionError> {
        let &b = data.first().ok_or(bad_len(AUDIO_LEVEL_URI, 0))?;
        Ok(Self {
            voice: b & 0x80 != 0,
            level: b & 0x7f,
        })
    }

    /// The 1-byte element.
    pub fn write(self) -> [u8; 1] {
        [u8::from(self.voice) << 7 | self.level]
    }
}

/// Mixer-to-client levels (RFC 6465 §3): one level (-dBov, 0..=127) per
/// CSRC, in the order of the CSRC list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrcAudioLevels(Vec<u8>);

impl CsrcAudioLevels {
    /// Levels in -dBov, each 0..=127, at most 15.
    pub fn new(levels: Vec<u8>) -> Result<Self, ExtensionError> {
        if levels.len() > 15 || levels.iter().any(|&l| l > 127) {
            return Err(ExtensionError::OutOfRange {
                uri: CSRC_AUDIO_LEVEL_URI,
            });
        }
        Ok(Self(levels))
    }

    /// The levels.
    pub fn levels(&self) -> &[u8] {
        &self.0
    }

    /// Reads the element: one byte per CSRC, the top bit reserved.
    pub fn read(data: &[u8]) -> Result<Self, ExtensionError> {
        if data.is_empty() || data.len() > 15 {
            return Err(bad_len(CSRC_AUDIO_LEVEL_URI, data.len()));
        }
        Ok(Self(data.iter().map(|b| b & 0x7f).collect()))
    }

    /// The element bytes.
    pub fn write(&self) -> Vec<u8> {
        self.0.clone()
    }
}

/// A rotation of the video orientation extension (3GPP TS 26.114 §7.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// No rotation.
    Deg0,
    /// 90° counter-clockwise.
    Deg90,
    /// 180°.
    Deg180,
    /// 270° counter-clockwise.
    Deg270,
}

/// Coordination of video orientation (3GPP TS 26.114 §7.4.5): one byte
/// `0 0 0 0 C F R1 R0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoOrientation {
    /// C: the back-facing camera.
    pub back_camera: bool,
    /// F: horizontally flipped.
    pub flip: bool,
    /// R1 R0: the rotation.
    pub rotation: Rotation,
}

impl VideoOrientation {
    /// Reads the element (one byte; extra bytes are padding).
    pub fn read(data: &[u8]) -> Result<Self, ExtensionError> {
        let &b = data.first().ok_or(bad_len(VIDEO_ORIENTATION_URI, 0))?;
        Ok(Self {
            back_camera: b & 0x08 != 0,
            flip: b & 0x04 != 0,
            rotation: match b & 3 {
                0 => Rotation::Deg0,
                1 => Rotation::Deg90,
                2 => Rotation::Deg180,
                _ => Rotation::Deg270,
            },
        })
    }

    /// The 1-byte element.
    pub fn write(self) -> [u8; 1] {
        let r = match self.rotation {
            Rotation::Deg0 => 0,
            Rotation::Deg90 => 1,
            Rotation::Deg180 => 2,
            Rotation::Deg270 => 3,
        };
        [u8::from(self.back_camera) << 3 | u8::from(self.flip) << 2 | r]
    }
}

/// The playout delay limits (webrtc.org playout-delay): minimum and maximum
/// in units of 10 ms, 12 bits each (0..=40.95 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayoutDelay {
    min: u16,
    max: u16,
}

impl PlayoutDelay {
    /// Limits in 10 ms units, each at most 4095 and `min <= max`.
    pub fn new(min: u16, max: u16) -> Result<Self, ExtensionError> {
        if min > max || max > 0x0fff {
            return Err(ExtensionError::OutOfRange {
                uri: PLAYOUT_DELAY_URI,
            });
        }
        Ok(Self { min, max })
    }

    /// The minimum delay in 10 ms units.
    pub fn min(self) -> u16 {
        self.min
    }

    /// The maximum delay in 10 ms units.
    pub fn max(self) -> u16 {
        self.max
    }

    /// Reads the 3-byte element (a `min > max` pair is kept as sent).
    pub fn read(data: &[u8]) -> Result<Self, ExtensionError> {
        match data {
            [a, b, c] => Ok(Self {
                min: u16::from(*a) << 4 | u16::from(*b >> 4),
                max: u16::from(b & 0x0f) << 8 | u16::from(*c),
            }),
            _ => Err(bad_len(PLAYOUT_DELAY_URI, data.len())),
        }
    }

    /// The 3-byte element.
    pub fn write(self) -> [u8; 3] {
        [
            (self.min >> 4) as u8,
            ((self.min & 0x0f) << 4 | self.max >> 8) as u8,
            self.max as u8,
        ]
    }
}

/// A header extension this crate knows by URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionKind {
    /// [`MID_URI`].
    Mid,
    /// [`RID_URI`].
    Rid,
    /// [`REPAIRED_RID_URI`].
    RepairedRid,
    /// [`ABS_SEND_TIME_URI`].
    AbsSendTime,
    /// [`TRANSPORT_CC_URI`].
    TransportCc,
    /// [`AUDIO_LEVEL_URI`].
    AudioLevel,
    /// [`CSRC_AUDIO_LEVEL_URI`].
    CsrcAudioLevel,
    /// [`VIDEO_ORIENTATION_URI`].
    VideoOrientation,
    /// [`PLAYOUT_DELAY_URI`].
    PlayoutDelay,
}

impl ExtensionKind {
    /// Every kind.
    pub const ALL: [Self; 9] = [
        Self::Mid,
        Self::Rid,
        Self::RepairedRid,
        Self::AbsSendTime,
        Self::TransportCc,
        Self::AudioLevel,
        Self::CsrcAudioLevel,
        Self::VideoOrientation,
        Self::PlayoutDelay,
    ];

    /// The URI of `a=extmap` (RFC 8285 §5).
    pub fn uri(self) -> &'static str {
        match self {
            Self::Mid => MID_URI,
            Self::Rid => RID_URI,
            Self::RepairedRid => REPAIRED_RID_URI,
            Self::AbsSendTime => ABS_SEND_TIME_URI,
            Self::TransportCc => TRANSPORT_CC_URI,
            Self::AudioLevel => AUDIO_LEVEL_URI,
            Self::CsrcAudioLevel => CSRC_AUDIO_LEVEL_URI,
            Self::VideoOrientation => VIDEO_ORIENTATION_URI,
            Self::PlayoutDelay => PLAYOUT_DELAY_URI,
        }
    }

    /// The kind of a URI, if this crate knows it.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.uri() == uri)
    }
}

/// The negotiated ids of the known extensions (the `a=extmap` lines of a
/// media section, RFC 8285 §5), and typed reads of a packet's elements by
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtensionMap {
    ids: [Option<ExtensionId>; ExtensionKind::ALL.len()],
}

impl ExtensionMap {
    /// A map with no extension negotiated.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `a=extmap:<id> <uri>`; unknown URIs are ignored and reported
    /// with `false`.
    pub fn insert(&mut self, id: ExtensionId, uri: &str) -> bool {
        match ExtensionKind::from_uri(uri) {
            Some(kind) => {
                self.ids[kind as usize] = Some(id);
                true
            }
            None => false,
        }
    }

    /// The negotiated id of `kind`.
    pub fn id(&self, kind: ExtensionKind) -> Option<ExtensionId> {
        self.ids[kind as usize]
    }

    /// The kind negotiated under `id`.
    pub fn kind(&self, id: ExtensionId) -> Option<ExtensionKind> {
        ExtensionKind::ALL
            .into_iter()
            .find(|k| self.id(*k) == Some(id))
    }

    fn raw<'a>(&self, kind: ExtensionKind, ext: &Extensions<'a>) -> Option<&'a [u8]> {
        ext.get(self.id(kind)?)
    }

    /// The mid of a packet (RFC 8843 §15), if negotiated, present and valid.
    pub fn mid<'a>(&self, ext: &Extensions<'a>) -> Option<Identifier<'a>> {
        Identifier::read(MID_URI, self.raw(ExtensionKind::Mid, ext)?).ok()
    }

    /// The rid of a packet (RFC 8852 §3.1).
    pub fn rid<'a>(&self, ext: &Extensions<'a>) -> Option<Identifier<'a>> {
        Identifier::read(RID_URI, self.raw(ExtensionKind::Rid, ext)?).ok()
    }

    /// The repaired rid of a packet (RFC 8852 §3.2).
    pub fn repaired_rid<'a>(&self, ext: &Extensions<'a>) -> Option<Identifier<'a>> {
        Identifier::read(REPAIRED_RID_URI, self.raw(ExtensionKind::RepairedRid, ext)?).ok()
    }

    /// The abs-send-time of a packet.
    pub fn abs_send_time(&self, ext: &Extensions<'_>) -> Option<AbsSendTime> {
        AbsSendTime::read(self.raw(ExtensionKind::AbsSendTime, ext)?).ok()
    }

    /// The transport-wide sequence number of a packet.
    pub fn transport_sequence(&self, ext: &Extensions<'_>) -> Option<TransportSequence> {
        TransportSequence::read(self.raw(ExtensionKind::TransportCc, ext)?).ok()
    }

    /// The audio level of a packet (RFC 6464).
    pub fn audio_level(&self, ext: &Extensions<'_>) -> Option<AudioLevel> {
        AudioLevel::read(self.raw(ExtensionKind::AudioLevel, ext)?).ok()
    }

    /// The CSRC audio levels of a packet (RFC 6465).
    pub fn csrc_audio_levels(&self, ext: &Extensions<'_>) -> Option<CsrcAudioLevels> {
        CsrcAudioLevels::read(self.raw(ExtensionKind::CsrcAudioLevel, ext)?).ok()
    }

    /// The video orientation of a packet (3GPP TS 26.114 §7.4.5).
    pub fn video_orientation(&self, ext: &Extensions<'_>) -> Option<VideoOrientation> {
        VideoOrientation::read(self.raw(ExtensionKind::VideoOrientation, ext)?).ok()
    }

    /// The playout delay limits of a packet.
    pub fn playout_delay(&self, ext: &Extensions<'_>) -> Option<PlayoutDelay> {
        PlayoutDelay::read(self.raw(ExtensionKind::PlayoutDelay, ext)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identifiers_accept_the_rid_alphabet_and_drop_trailing_padding() {
        assert_eq!(Identifier::read(MID_URI, b"0").unwrap().as_str(), "0");
        assert_eq!(
            Identifier::read(RID_URI, b"hi-res_1\0\0").unwrap().as_str(),
            "hi-res_1"
        );
        assert_eq!(
            Identifier::read(RID_URI, b""),
            Err(ExtensionError::BadLength {
                uri: RID_URI,
                len: 0
            })
        );
        assert_eq!(
            Identifier::read(RID_URI, b"a b"),
            Err(ExtensionError::BadIdentifier { uri: RID_URI })
        );
        assert!(Identifier::new(REPAIRED_RID_URI, "\u{e9}").is_err());
    }

    #[test]
    fn abs_send_time_is_6_18_fixed_point_seconds_wrapping_at_64() {
        let t = AbsSendTime::from_duration(std::time::Duration::from_millis(65_500));
        assert_eq!(t.raw() >> 18, 1);
        assert_eq!(t.raw() & 0x3ffff, 1u32 << 17);
        assert_eq!(AbsSendTime::read(&t.write()).unwrap(), t);
        // NTP 1.5 s: seconds 1, fraction 0x8000_0000.
        assert_eq!(
            AbsSendTime::from_ntp(1 << 32 | 0x8000_0000).raw(),
            1 << 18 | 1 << 17
        );
        assert!(AbsSendTime::read(&[1, 2]).is_err());
    }

    #[test]
    fn audio_level_of_rfc6464_holds_the_voice_bit_and_7_bit_level() {
        let l = AudioLevel::read(&[0x80 | 42]).unwrap();
        assert!(l.voice);
        assert_eq!(l.level(), 42);
        assert_eq!(l.write(), [0xaa]);
        assert!(AudioLevel::new(false, 128).is_none());
        assert!(AudioLevel::read(&[]).is_err());
    }

    #[test]
    fn csrc_audio_levels_of_rfc6465_are_one_byte_per_csrc() {
        let l = CsrcAudioLevels::read(&[1, 0x85, 127]).unwrap();
        assert_eq!(l.levels(), &[1, 5, 127]);
        assert!(CsrcAudioLevels::new(vec![128]).is_err());
        assert!(CsrcAudioLevels::read(&[]).is_err());
    }

    #[test]
    fn video_orientation_bits_follow_3gpp() {
        let v = VideoOrientation::read(&[0b1101]).unwrap();
        assert_eq!(
            v,
            VideoOrientation {
                back_camera: true,
                flip: true,
                rotation: Rotation::Deg90
            }
        );
        assert_eq!(v.write(), [0b1101]);
    }

    #[test]
    fn playout_delay_packs_two_12_bit_values() {
        let d = PlayoutDelay::new(0x123, 0x456).unwrap();
        assert_eq!(d.write(), [0x12, 0x34, 0x56]);
        assert_eq!(PlayoutDelay::read(&[0x12, 0x34, 0x56]).unwrap(), d);
        assert!(PlayoutDelay::new(5, 4).is_err());
        assert!(PlayoutDelay::new(0, 4096).is_err());
    }

    #[test]
    fn the_extension_map_reads_typed_values_by_negotiated_id() {
        let id = |v| ExtensionId::new(v).unwrap();
        let mut map = ExtensionMap::new();
        assert!(map.insert(id(4), MID_URI));
        assert!(map.insert(id(3), TRANSPORT_CC_URI));
        assert!(map.insert(id(1), AUDIO_LEVEL_URI));
        assert!(!map.insert(id(9), "urn:example:unknown"));
        assert_eq!(map.kind(id(3)), Some(ExtensionKind::TransportCc));
        assert_eq!(map.id(ExtensionKind::Rid), None);
        let mut ext = Extensions::new();
        ext.insert(id(4), b"audio").unwrap();
        ext.insert(id(3), &[0x01, 0x02]).unwrap();
        assert_eq!(map.mid(&ext).map(|m| m.as_str()), Some("audio"));
        assert_eq!(
            map.transport_sequence(&ext),
            Some(TransportSequence(0x0102))
        );
        assert_eq!(map.audio_level(&ext), None);
        assert_eq!(map.rid(&ext), None);
        for kind in ExtensionKind::ALL {
            assert_eq!(ExtensionKind::from_uri(kind.uri()), Some(kind));
        }
    }

    proptest! {
        #[test]
        fn fixed_size_values_round_trip(raw in 0u32..1 << 24, seq: u16, min in 0u16..4096, max in 0u16..4096, b: u8) {
            let t = AbsSendTime(raw);
            prop_assert_eq!(AbsSendTime::read(&t.write()).unwrap(), t);
            prop_assert_eq!(TransportSequence::read(&TransportSequence(seq).write()).unwrap().0, seq);
            let d = PlayoutDelay { min, max };
            prop_assert_eq!(PlayoutDelay::read(&d.write()).unwrap(), d);
            let v = VideoOrientation::read(&[b & 0x0f]).unwrap();
            prop_assert_eq!(v.write(), [b & 0x0f]);
            let a = AudioLevel::read(&[b]).unwrap();
            prop_assert_eq!(a.write(), [b]);
        }
    }
}
