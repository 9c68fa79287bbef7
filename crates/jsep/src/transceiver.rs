//! Transceivers: the per-m-section unit JSEP negotiates (W3C webrtc-pc §5.4).

use ferrtc_sdp::{Direction, MediaKind};

use crate::codec::Codec;

/// Stable handle of a transceiver within one [`crate::Jsep`] session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransceiverId(pub(crate) usize);

impl TransceiverId {
    /// The handle as a number (unique within its session).
    pub fn index(self) -> usize {
        self.0
    }
}

/// An RTP header extension and its local id (`a=extmap`, RFC 8285;
/// W3C `RTCRtpHeaderExtensionParameters`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCRtpHeaderExtensionParameters")]
pub struct HeaderExtension {
    /// Id, 1..=14 for one-byte headers.
    pub id: u16,
    /// Extension URI.
    pub uri: String,
}

impl HeaderExtension {
    /// Builds an extension entry.
    pub fn new(id: u16, uri: &str) -> Self {
        Self {
            id,
            uri: uri.to_owned(),
        }
    }
}

/// URI of the MID header extension (RFC 9143 §15.2).
pub const EXT_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// URI of the RtpStreamId header extension (RFC 8852 §3.1).
pub const EXT_RID: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
/// URI of the RepairedRtpStreamId header extension (RFC 8852 §3.2).
pub const EXT_REPAIRED_RID: &str = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
/// URI of the audio level header extension (RFC 6464).
pub const EXT_AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// URI of the absolute send time header extension.
pub const EXT_ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
/// URI of the transport-wide congestion control header extension.
pub const EXT_TWCC: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// Default audio header extensions.
pub fn default_audio_extensions() -> Vec<HeaderExtension> {
    vec![
        HeaderExtension::new(1, EXT_AUDIO_LEVEL),
        HeaderExtension::new(2, EXT_ABS_SEND_TIME),
        HeaderExtension::new(3, EXT_TWCC),
        HeaderExtension::new(4, EXT_MID),
    ]
}

/// Default video header extensions.
pub fn default_video_extensions() -> Vec<HeaderExtension> {
    vec![
        HeaderExtension::new(2, EXT_ABS_SEND_TIME),
        HeaderExtension::new(3, EXT_TWCC),
        HeaderExtension::new(4, EXT_MID),
        HeaderExtension::new(10, EXT_RID),
        HeaderExtension::new(11, EXT_REPAIRED_RID),
    ]
}

/// One send encoding, for simulcast identified by its rid
/// (W3C `RTCRtpEncodingParameters`, RFC 8853).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCRtpEncodingParameters")]
pub struct SendEncoding {
    /// The rid (RtpStreamId).
    pub rid: String,
}

/// What the application asks of a new transceiver (W3C `RTCRtpTransceiverInit`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCRtpTransceiverInit")]
pub struct TransceiverInit {
    /// Audio or video.
    pub kind: MediaKind,
    /// Preferred direction.
    pub direction: Direction,
    /// Codecs in preference order, with local payload types.
    pub codecs: Vec<Codec>,
    /// Header extensions with local ids.
    pub header_extensions: Vec<HeaderExtension>,
    /// Send encodings; two or more with rids offer simulcast.
    pub send_encodings: Vec<SendEncoding>,
    /// MediaStream ids of the sender's track (`a=msid`).
    pub stream_ids: Vec<String>,
    /// The sender's track id (`a=msid` second part).
    pub track_id: Option<String>,
    /// Primary SSRC of the sender, written as `a=ssrc` when set.
    pub ssrc: Option<u32>,
    /// RTX SSRC of the sender, written with `a=ssrc-group:FID` when set.
    pub rtx_ssrc: Option<u32>,
}

impl TransceiverInit {
    /// A transceiver of `kind` with the default codecs and extensions.
    pub fn new(kind: MediaKind, direction: Direction) -> Self {
        let (codecs, header_extensions) = match kind {
            MediaKind::Audio => (
                crate::codec::default_audio_codecs(),
                default_audio_extensions(),
            ),
            _ => (
                crate::codec::default_video_codecs(),
                default_video_extensions(),
            ),
        };
        Self {
            kind,
            direction,
            codecs,
            header_extensions,
            send_encodings: Vec::new(),
            stream_ids: Vec::new(),
            track_id: None,
            ssrc: None,
            rtx_ssrc: None,
        }
    }
}

/// What an offer/answer exchange settled for one transceiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// The mid.
    pub mid: String,
    /// Direction from the local point of view (W3C `currentDirection`).
    pub direction: Direction,
    /// Codecs of the answer, with the offerer's payload types, RTX included.
    pub codecs: Vec<Codec>,
    /// Header extensions of the answer, with the offerer's ids.
    pub header_extensions: Vec<HeaderExtension>,
    /// Rids this side sends (simulcast), in order.
    pub send_rids: Vec<String>,
    /// Rids this side receives (simulcast), in order.
    pub recv_rids: Vec<String>,
    /// SSRCs the remote side announced with `a=ssrc`.
    pub remote_ssrcs: Vec<u32>,
    /// The remote `a=msid` (stream id, track id), if any.
    pub remote_msid: Option<(String, Option<String>)>,
}

/// An `RTCRtpTransceiver` as JSEP sees it (W3C webrtc-pc §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCRtpTransceiver")]
pub struct Transceiver {
    pub(crate) id: TransceiverId,
    pub(crate) init: TransceiverInit,
    pub(crate) mid: Option<String>,
    pub(crate) stopped: bool,
    pub(crate) created_by_remote: bool,
    /// `addTrack` took this transceiver, which a remote offer created: a
    /// rollback of that offer keeps it (W3C webrtc-pc §4.4.1.6).
    pub(crate) reused_for_add_track: bool,
    pub(crate) current_direction: Option<Direction>,
    pub(crate) negotiated: Option<NegotiatedMedia>,
    /// `init.codecs` are the application's codec preferences (W3C
    /// `setCodecPreferences` with a non-empty list), whose order answers
    /// follow too (RFC 8829 §4.2.6), not the defaults.
    pub(crate) codec_preferences: bool,
}

impl Transceiver {
    pub(crate) fn new(id: TransceiverId, init: TransceiverInit, created_by_remote: bool) -> Self {
        Self {
            id,
            init,
            mid: None,
            stopped: false,
            created_by_remote,
            reused_for_add_track: false,
            current_direction: None,
            negotiated: None,
            codec_preferences: false,
        }
    }

    /// Handle of this transceiver.
    pub fn id(&self) -> TransceiverId {
        self.id
    }

    /// Audio or video.
    pub fn kind(&self) -> &MediaKind {
        &self.init.kind
    }

    /// The mid, once associated with an m-section.
    pub fn mid(&self) -> Option<&str> {
        self.mid.as_deref()
    }

    /// The preferred direction (W3C `direction`).
    pub fn direction(&self) -> Direction {
        self.init.direction
    }

    /// The negotiated direction (W3C `currentDirection`); `None` before
    /// negotiation and once stopped.
    pub fn current_direction(&self) -> Option<Direction> {
        self.current_direction
    }

    /// Whether the transceiver is stopped (W3C `stopped`/`stopping`).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The parameters settled by the last completed exchange.
    pub fn negotiated(&self) -> Option<&NegotiatedMedia> {
        self.negotiated.as_ref()
    }

    /// The application's settings.
    pub fn init(&self) -> &TransceiverInit {
        &self.init
    }
}
