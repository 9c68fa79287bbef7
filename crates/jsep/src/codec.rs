//! Codecs and their negotiation rules (RFC 8829 §5.3.1, RFC 6184, RFC 7741,
//! draft-ietf-payload-vp9).

use ferrtc_sdp::{Attribute, Fmtp, MediaDescription, RtcpFb, Rtpmap, split_fmtp_params};

/// One `a=rtcp-fb` feedback mechanism of a codec (RFC 4585 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtcpFeedback {
    /// Type: `nack`, `ccm`, `transport-cc`, `goog-remb`.
    pub kind: String,
    /// Parameter: `pli`, `fir`, or none.
    pub parameter: Option<String>,
}

impl RtcpFeedback {
    /// Builds a feedback entry.
    pub fn new(kind: &str, parameter: Option<&str>) -> Self {
        Self {
            kind: kind.to_owned(),
            parameter: parameter.map(str::to_owned),
        }
    }
}

/// An RTP codec as offered or negotiated: `a=rtpmap` + `a=fmtp` + `a=rtcp-fb`
/// (W3C `RTCRtpCodecParameters`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCRtpCodecParameters")]
pub struct Codec {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name (`opus`, `VP8`, `H264`, `rtx`, ...), compared case-insensitively.
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels, when written in the rtpmap.
    pub channels: Option<u16>,
    /// Format parameters (`a=fmtp`), as written.
    pub fmtp: Option<String>,
    /// RTCP feedback mechanisms.
    pub feedback: Vec<RtcpFeedback>,
}

impl Codec {
    /// A codec with no fmtp and no feedback.
    pub fn new(payload_type: u8, name: &str, clock_rate: u32, channels: Option<u16>) -> Self {
        Self {
            payload_type,
            name: name.to_owned(),
            clock_rate,
            channels,
            fmtp: None,
            feedback: Vec::new(),
        }
    }

    /// Sets the fmtp text.
    pub fn with_fmtp(mut self, fmtp: &str) -> Self {
        self.fmtp = Some(fmtp.to_owned());
        self
    }

    /// Adds feedback mechanisms.
    pub fn with_feedback(mut self, fb: &[(&str, Option<&str>)]) -> Self {
        self.feedback
            .extend(fb.iter().map(|(k, p)| RtcpFeedback::new(k, *p)));
        self
    }

    /// An RTX codec (RFC 4588 §8.6) for the codec with payload type `apt`.
    pub fn rtx(payload_type: u8, apt: u8, clock_rate: u32) -> Self {
        Self::new(payload_type, "rtx", clock_rate, None).with_fmtp(&format!("apt={apt}"))
    }

    /// Whether this is an RTX (retransmission) codec.
    pub fn is_rtx(&self) -> bool {
        self.name.eq_ignore_ascii_case("rtx")
    }

    /// Whether this is an RFC 4733 `telephone-event` format (DTMF).
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case(TELEPHONE_EVENT)
    }

    /// The associated payload type of an RTX codec (`apt=`).
    pub fn apt(&self) -> Option<u8> {
        self.param("apt").and_then(|v| v.parse().ok())
    }

    /// Value of one fmtp parameter, keys compared case-insensitively.
    pub fn param(&self, key: &str) -> Option<&str> {
        split_fmtp_params(self.fmtp.as_deref()?)
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// Whether two codecs describe the same format (RFC 8829 §5.3.1 "matching"):
    /// same name, clock rate and channels, and the format-specific parameters
    /// that must agree: H.264 profile and packetization-mode (RFC 6184 §8.2.2),
    /// VP9 `profile-id`, AV1 `profile`. RTX codecs match on clock rate only;
    /// their `apt` is mapped separately.
    pub fn matches(&self, other: &Codec) -> bool {
        if !self.name.eq_ignore_ascii_case(&other.name) || self.clock_rate != other.clock_rate {
            return false;
        }
        if self.channels.unwrap_or(1) != other.channels.unwrap_or(1) {
            return false;
        }
        let name = self.name.to_ascii_lowercase();
        match name.as_str() {
            "h264" => {
                let pm = |c: &Codec| c.param("packetization-mode").unwrap_or("0").to_owned();
                pm(self) == pm(other)
                    && h264_profile(self).is_some()
                    && h264_profile(self) == h264_profile(other)
            }
            "vp9" => {
                let p = |c: &Codec| c.param("profile-id").unwrap_or("0").to_owned();
                p(self) == p(other)
            }
            "av1" => {
                let p = |c: &Codec| c.param("profile").unwrap_or("0").to_owned();
                p(self) == p(other)
            }
            _ => true,
        }
    }

    /// Reads the codecs of an RTP media section, in `m=` line order, one
    /// per payload type: a payload type the `m=` line repeats is read once
    /// (its first `a=rtpmap` and `a=fmtp`), so a peer's m-line cannot
    /// multiply the codecs negotiation works on (RFC 8866 §5.14: a format
    /// names one codec). Each codec's feedback lists each mechanism once,
    /// at most [`MAX_FEEDBACK_PER_CODEC`] of them.
    pub fn from_section(m: &MediaDescription) -> Vec<Codec> {
        let mut seen = PayloadTypeSet::default();
        m.payload_types()
            .filter(|pt| seen.insert(*pt))
            .filter_map(|pt| {
                let Rtpmap {
                    encoding,
                    clock_rate,
                    channels,
                    ..
                } = m.rtpmap(pt).cloned().or_else(|| static_rtpmap(pt))?;
                let fmtp = m.fmtp(pt).map(|f| f.parameters.clone());
                let feedback = section_feedback(m, pt);
                Some(Codec {
                    payload_type: pt,
                    name: encoding,
                    clock_rate,
                    channels,
                    fmtp,
                    feedback,
                })
            })
            .collect()
    }

    /// Appends this codec's `a=rtpmap`, `a=rtcp-fb` and `a=fmtp` lines.
    pub(crate) fn write_attributes(&self, out: &mut Vec<Attribute>) {
        out.push(Attribute::Rtpmap(Rtpmap {
            payload_type: self.payload_type,
            encoding: self.name.clone(),
            clock_rate: self.clock_rate,
            channels: self.channels,
        }));
        for fb in &self.feedback {
            out.push(Attribute::RtcpFb(RtcpFb {
                payload_type: Some(self.payload_type),
                kind: fb.kind.clone(),
                parameter: fb.parameter.clone(),
            }));
        }
        if let Some(p) = &self.fmtp {
            out.push(Attribute::Fmtp(Fmtp {
                payload_type: self.payload_type,
                parameters: p.clone(),
            }));
        }
    }
}

/// Most distinct feedback mechanisms read for one codec. Browsers offer
/// five per video codec; `a=rtcp-fb:*` lines count for every payload type
/// of the section (RFC 4585 §4.2), so without a bound a peer's wildcard
/// lines would be copied once per codec.
pub const MAX_FEEDBACK_PER_CODEC: usize = 32;

/// The `a=rtcp-fb` mechanisms of one payload type, its own and `*`, in
/// order: each once (a mechanism is there or not, RFC 4585 §4.2), at most
/// [`MAX_FEEDBACK_PER_CODEC`] of them.
fn section_feedback(m: &MediaDescription, pt: u8) -> Vec<RtcpFeedback> {
    let mut out: Vec<RtcpFeedback> = Vec::new();
    for f in m.rtcp_fbs(pt) {
        if out.len() == MAX_FEEDBACK_PER_CODEC {
            break;
        }
        let known = out
            .iter()
            .any(|x| x.kind == f.kind && x.parameter == f.parameter);
        if !known {
            out.push(RtcpFeedback {
                kind: f.kind.clone(),
                parameter: f.parameter.clone(),
            });
        }
    }
    out
}

/// A set of RTP payload types (0-255 as `u8`), for linear-time duplicate checks.
#[derive(Default)]
pub(crate) struct PayloadTypeSet([u64; 4]);

impl PayloadTypeSet {
    /// Adds `pt`; false if it was already there.
    pub(crate) fn insert(&mut self, pt: u8) -> bool {
        let (word, bit) = (usize::from(pt / 64), 1u64 << (pt % 64));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }
}

/// Static payload types of RFC 3551 §6 that may appear without `a=rtpmap`.
fn static_rtpmap(pt: u8) -> Option<Rtpmap> {
    let (encoding, clock_rate, channels) = match pt {
        0 => ("PCMU", 8000, Some(1)),
        8 => ("PCMA", 8000, Some(1)),
        9 => ("G722", 8000, Some(1)),
        13 => ("CN", 8000, Some(1)),
        _ => return None,
    };
    Some(Rtpmap {
        payload_type: pt,
        encoding: encoding.into(),
        clock_rate,
        channels,
    })
}

/// H.264 profiles that decide codec compatibility (RFC 6184 §8.1, Table 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H264Profile {
    /// Constrained Baseline.
    ConstrainedBaseline,
    /// Baseline.
    Baseline,
    /// Main.
    Main,
    /// Extended.
    Extended,
    /// High.
    High,
    /// Constrained High.
    ConstrainedHigh,
    /// Other profile_idc values, by number.
    Other(u8),
}

/// Parses `profile-level-id` (default `42000A`, RFC 6184 §8.1) into
/// (profile_idc, profile-iop, level_idc).
pub fn parse_profile_level_id(codec: &Codec) -> Option<(u8, u8, u8)> {
    let plid = codec.param("profile-level-id").unwrap_or("42000a");
    if plid.len() != 6 || !plid.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(plid.get(i..i + 2)?, 16).ok();
    Some((byte(0)?, byte(2)?, byte(4)?))
}

/// The H.264 profile of a codec from `profile_idc` and the constraint flags
/// of `profile-iop` (RFC 6184 §8.1 and H.264 Annex A.2).
pub fn h264_profile(codec: &Codec) -> Option<H264Profile> {
    let (idc, iop, _) = parse_profile_level_id(codec)?;
    let set0 = iop & 0x80 != 0;
    let set1 = iop & 0x40 != 0;
    let set3 = iop & 0x10 != 0;
    let set4 = iop & 0x08 != 0;
    let set5 = iop & 0x04 != 0;
    Some(match idc {
        // A.2.1.1: Baseline with constraint_set1 is Constrained Baseline;
        // so are Main with constraint_set0 and Extended with set0 and set1.
        0x42 if set1 => H264Profile::ConstrainedBaseline,
        0x42 => H264Profile::Baseline,
        0x4D if set0 => H264Profile::ConstrainedBaseline,
        0x4D => H264Profile::Main,
        0x58 if set0 && set1 => H264Profile::ConstrainedBaseline,
        0x58 if set0 => H264Profile::Baseline,
        0x58 => H264Profile::Extended,
        // A.2.4.2: High with constraint_set4 and set5 is Constrained High.
        0x64 if set4 && set5 => H264Profile::ConstrainedHigh,
        0x64 if !set3 => H264Profile::High,
        other => H264Profile::Other(other),
    })
}

/// The fmtp an answerer writes for a matched H.264 codec (RFC 6184 §8.2.2):
/// the offer's parameters with the answerer's profile-level-id whose level is
/// its own when both sides allow level asymmetry, else the lower of the two.
fn h264_answer_fmtp(local: &Codec, offered: &Codec) -> Option<String> {
    let (_, _, local_level) = parse_profile_level_id(local)?;
    let (o_idc, o_iop, offered_level) = parse_profile_level_id(offered)?;
    let asym = |c: &Codec| c.param("level-asymmetry-allowed") == Some("1");
    let level = if asym(local) && asym(offered) {
        local_level
    } else {
        local_level.min(offered_level)
    };
    let plid = format!("{o_idc:02x}{o_iop:02x}{level:02x}");
    let text = offered.fmtp.as_deref().unwrap_or_default();
    let mut parts: Vec<String> = split_fmtp_params(text)
        .filter(|(k, _)| !k.eq_ignore_ascii_case("profile-level-id"))
        .map(|(k, v)| {
            if v.is_empty() {
                k.to_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    parts.push(format!("profile-level-id={plid}"));
    parts.sort();
    Some(parts.join(";"))
}

/// Intersects offered codecs with local ones (RFC 8829 §5.3.1): keeps the
/// offered codecs that match a local codec, in the offerer's order and with
/// the offerer's payload types, with feedback intersected and, for H.264,
/// the answerer's level. RTX codecs are kept when their `apt` codec is kept
/// and the local side supports RTX at that clock rate; RED/ULPFEC are
/// treated as ordinary codecs.
///
/// Each offered payload type is kept once (its first codec), so the result
/// holds one codec per payload type whatever `offered` holds, and each RTX comes once.
pub fn negotiate_codecs(offered: &[Codec], local: &[Codec]) -> Vec<Codec> {
    let mut seen = PayloadTypeSet::default();
    let offered: Vec<&Codec> = offered
        .iter()
        .filter(|c| seen.insert(c.payload_type))
        .collect();
    let mut out: Vec<Codec> = Vec::new();
    for o in offered.iter().copied().filter(|c| !c.is_rtx()) {
        let Some(l) = local.iter().find(|l| !l.is_rtx() && l.matches(o)) else {
            continue;
        };
        let mut c = o.clone();
        c.feedback.retain(|fb| l.feedback.contains(fb));
        if c.name.eq_ignore_ascii_case("h264") {
            c.fmtp = h264_answer_fmtp(l, o).or(c.fmtp);
        }
        out.push(c);
    }
    for o in offered.iter().copied().filter(|c| c.is_rtx()) {
        let Some(apt) = o.apt() else { continue };
        let kept = out.iter().any(|c| !c.is_rtx() && c.payload_type == apt);
        let local_rtx = local
            .iter()
            .any(|l| l.is_rtx() && l.clock_rate == o.clock_rate);
        if kept && local_rtx {
            out.push(o.clone());
        }
    }
    // Keep each RTX right after its codec, as browsers order them.
    let mut ordered = Vec::with_capacity(out.len());
    for c in out.iter().filter(|c| !c.is_rtx()) {
        ordered.push(c.clone());
        ordered.extend(
            out.iter()
                .filter(|r| r.is_rtx() && r.apt() == Some(c.payload_type))
                .cloned(),
        );
    }
    ordered
}

/// Orders negotiated codecs (as [`negotiate_codecs`] returns them, each
/// RTX right after its codec) by codec preferences (RFC 8829 §4.2.6: the
/// preferences decide the order of the answer's formats too): each codec
/// with its RTX goes where the first preference it matches stands; the
/// order is kept otherwise.
pub(crate) fn order_by_preferences(codecs: Vec<Codec>, preferences: &[Codec]) -> Vec<Codec> {
    let mut groups: Vec<Vec<Codec>> = Vec::new();
    for c in codecs {
        match groups.last_mut() {
            Some(group) if c.is_rtx() => group.push(c),
            _ => groups.push(vec![c]),
        }
    }
    let rank = |c: &Codec| {
        preferences
            .iter()
            .position(|p| !p.is_rtx() && p.matches(c))
            .unwrap_or(usize::MAX)
    };
    // Stable: codecs of equal rank keep the offer's order.
    groups.sort_by_cached_key(|g| g.first().map_or(usize::MAX, rank));
    groups.into_iter().flatten().collect()
}

const FB_VIDEO: &[(&str, Option<&str>)] = &[
    ("goog-remb", None),
    ("transport-cc", None),
    ("ccm", Some("fir")),
    ("nack", None),
    ("nack", Some("pli")),
];

/// Default audio codecs: Opus, G.722, PCMU, PCMA, then `telephone-event`
/// (RFC 4733 §7.1.1) at 48000 Hz for Opus and 8000 Hz for the G.7xx
/// codecs, with the payload types and order Chromium offers (see
/// `fixtures/sdp/chromium-156/audio-offer.sdp`). Like Chromium, no
/// `a=fmtp` is written for telephone-event: RFC 4733 §2.4.1 reads its
/// absence as events 0-15, the DTMF tones.
pub fn default_audio_codecs() -> Vec<Codec> {
    vec![
        Codec::new(111, "opus", 48000, Some(2))
            .with_fmtp("minptime=10;useinbandfec=1")
            .with_feedback(&[("transport-cc", None)]),
        Codec::new(9, "G722", 8000, None),
        Codec::new(0, "PCMU", 8000, None),
        Codec::new(8, "PCMA", 8000, None),
        Codec::new(TELEPHONE_EVENT_48000_PT, TELEPHONE_EVENT, 48000, None),
        Codec::new(TELEPHONE_EVENT_8000_PT, TELEPHONE_EVENT, 8000, None),
    ]
}

/// The encoding name of RFC 4733 telephone events (DTMF), §7.1.1.
pub const TELEPHONE_EVENT: &str = "telephone-event";
/// The payload type Chromium offers `telephone-event/48000` with.
pub const TELEPHONE_EVENT_48000_PT: u8 = 110;
/// The payload type Chromium offers `telephone-event/8000` with.
pub const TELEPHONE_EVENT_8000_PT: u8 = 126;

/// Default video codecs: VP8, VP9 profile 0, H.264 constrained baseline and
/// baseline (packetization-mode 1), AV1, each with RTX and the usual feedback.
pub fn default_video_codecs() -> Vec<Codec> {
    vec![
        Codec::new(96, "VP8", 90000, None).with_feedback(FB_VIDEO),
        Codec::rtx(97, 96, 90000),
        Codec::new(98, "VP9", 90000, None)
            .with_fmtp("profile-id=0")
            .with_feedback(FB_VIDEO),
        Codec::rtx(99, 98, 90000),
        Codec::new(102, "H264", 90000, None)
            .with_fmtp("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f")
            .with_feedback(FB_VIDEO),
        Codec::rtx(103, 102, 90000),
        Codec::new(104, "H264", 90000, None)
            .with_fmtp("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f")
            .with_feedback(FB_VIDEO),
        Codec::rtx(105, 104, 90000),
        Codec::new(45, "AV1", 90000, None).with_feedback(FB_VIDEO),
        Codec::rtx(46, 45, 90000),
    ]
}
