//! What JSEP negotiated, in the terms of `ferrtc-rtp`: the payloader and
//! depacketizer of a negotiated codec, RTX payload types (RFC 4588 §8.1
//! `apt`), header extension ids (RFC 8285).

use ferrtc_jsep::{Codec as SdpCodec, HeaderExtension};
use ferrtc_rtp::codec::{Codec, PacketizationMode};
use ferrtc_rtp::{ExtensionId, PayloadType};

/// One negotiated media codec with its payload type and clock rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub codec: Codec,
    pub payload_type: PayloadType,
    pub clock_rate: u32,
    /// The RTX payload type whose `apt` is this one, if negotiated.
    pub rtx: Option<PayloadType>,
    /// `a=rtcp-fb:<pt> nack` (RFC 4585 §4.2).
    pub nack: bool,
    /// `a=rtcp-fb:<pt> nack pli` (RFC 4585 §6.3.1).
    pub pli: bool,
}

/// The `ferrtc-rtp` codec for an SDP codec name, if it has a payloader.
pub(crate) fn rtp_codec(c: &SdpCodec) -> Option<Codec> {
    Some(match c.name.to_ascii_lowercase().as_str() {
        "opus" => Codec::Opus,
        "pcmu" => Codec::Pcmu,
        "pcma" => Codec::Pcma,
        "vp8" => Codec::Vp8,
        "vp9" => Codec::Vp9,
        "av1" => Codec::Av1,
        // RFC 6184 §8.1: packetization-mode absent means 0.
        "h264" => Codec::H264(match c.param("packetization-mode") {
            Some("1") => PacketizationMode::NonInterleaved,
            _ => PacketizationMode::SingleNal,
        }),
        _ => return None,
    })
}

/// Every negotiated codec this crate can carry, in the answer's order
/// (the first is the one to send, RFC 8829 §5.3.1).
pub(crate) fn negotiated(codecs: &[SdpCodec]) -> Vec<Negotiated> {
    codecs
        .iter()
        .filter(|c| !c.is_rtx())
        .filter_map(|c| {
            let codec = rtp_codec(c)?;
            let payload_type = PayloadType::new(c.payload_type)?;
            let rtx = codecs
                .iter()
                .find(|r| r.is_rtx() && r.apt() == Some(c.payload_type))
                .and_then(|r| PayloadType::new(r.payload_type));
            let fb = |kind: &str, param: Option<&str>| {
                c.feedback
                    .iter()
                    .any(|f| f.kind == kind && f.parameter.as_deref() == param)
            };
            Some(Negotiated {
                codec,
                payload_type,
                clock_rate: c.clock_rate.max(1),
                rtx,
                nack: fb("nack", None),
                pli: fb("nack", Some("pli")),
            })
        })
        .collect()
}

/// The id of the extension with `uri`, if negotiated.
pub(crate) fn extension_id(extensions: &[HeaderExtension], uri: &str) -> Option<ExtensionId> {
    extensions
        .iter()
        .find(|e| e.uri == uri)
        .and_then(|e| u8::try_from(e.id).ok())
        .and_then(ExtensionId::new)
}

/// One negotiated RFC 4733 `telephone-event` format (§7.1.1): its payload
/// type and clock rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TelephoneEvent {
    pub payload_type: PayloadType,
    pub clock_rate: u32,
}

/// The negotiated telephone-event formats, in the answer's order.
pub(crate) fn telephone_events(codecs: &[SdpCodec]) -> Vec<TelephoneEvent> {
    codecs
        .iter()
        .filter(|c| c.is_telephone_event())
        .filter_map(|c| {
            Some(TelephoneEvent {
                payload_type: PayloadType::new(c.payload_type)?,
                clock_rate: c.clock_rate.max(1),
            })
        })
        .collect()
}

/// The telephone-event format a sender of `clock_rate` sends DTMF with:
/// the one at the audio codec's own clock rate, since the events continue
/// the audio stream's RTP clock (RFC 4733 §2.1, §2.3.5; 48000 Hz next to
/// Opus). None when no such format was negotiated (W3C `canInsertDTMF` is
/// then false).
pub(crate) fn telephone_event_for(codecs: &[SdpCodec], clock_rate: u32) -> Option<TelephoneEvent> {
    telephone_events(codecs)
        .into_iter()
        .find(|e| e.clock_rate == clock_rate)
}
