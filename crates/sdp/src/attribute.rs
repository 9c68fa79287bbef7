//! Typed `a=` attributes (RFC 8866 §6 and the WebRTC extensions).
//!
//! Every attribute the model knows has a variant of [`Attribute`]; all others
//! are kept as [`Attribute::Other`] with their text, so nothing is lost.

use std::fmt;

use ferrtc_ice::Candidate;

use crate::error::{ValueError, quote};

/// One `a=` line (RFC 8866 §5.13).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Attribute {
    /// `a=group` (RFC 5888 §5): BUNDLE (RFC 9143), LS, ...
    Group(Group),
    /// `a=mid` (RFC 5888 §4): the media identification tag.
    Mid(String),
    /// `a=msid` (RFC 8830 §2): media stream id and track id.
    Msid(Msid),
    /// `a=msid-semantic` (draft-ietf-mmusic-msid, still written by browsers).
    MsidSemantic(MsidSemantic),
    /// `a=ice-ufrag` (RFC 8839 §5.4).
    IceUfrag(String),
    /// `a=ice-pwd` (RFC 8839 §5.4).
    IcePwd(String),
    /// `a=ice-options` (RFC 8839 §5.6).
    IceOptions(Vec<IceOption>),
    /// `a=ice-lite` (RFC 8839 §5.3).
    IceLite,
    /// `a=fingerprint` (RFC 8122 §5): certificate fingerprint.
    Fingerprint(Fingerprint),
    /// `a=setup` (RFC 4145 §4, RFC 8842): DTLS role.
    Setup(Setup),
    /// `a=tls-id` (RFC 8842 §4).
    TlsId(String),
    /// `a=rtcp` (RFC 3605): RTCP port and address.
    Rtcp(Rtcp),
    /// `a=rtcp-mux` (RFC 5761 §5.1.1).
    RtcpMux,
    /// `a=rtcp-mux-only` (RFC 8858).
    RtcpMuxOnly,
    /// `a=rtcp-rsize` (RFC 5506 §5).
    RtcpRsize,
    /// `a=rtpmap` (RFC 8866 §6.6).
    Rtpmap(Rtpmap),
    /// `a=fmtp` (RFC 8866 §6.15).
    Fmtp(Fmtp),
    /// `a=rtcp-fb` (RFC 4585 §4.2).
    RtcpFb(RtcpFb),
    /// `a=extmap` (RFC 8285 §8).
    Extmap(Extmap),
    /// `a=extmap-allow-mixed` (RFC 8285 §6).
    ExtmapAllowMixed,
    /// `a=ssrc` (RFC 5576 §4.1).
    Ssrc(Ssrc),
    /// `a=ssrc-group` (RFC 5576 §4.2): FID, SIM, FEC-FR.
    SsrcGroup(SsrcGroup),
    /// `a=rid` (RFC 8851 §4).
    Rid(Rid),
    /// `a=simulcast` (RFC 8853 §5.1).
    Simulcast(Simulcast),
    /// `a=sctp-port` (RFC 8841 §5).
    SctpPort(u16),
    /// `a=max-message-size` (RFC 8841 §6).
    MaxMessageSize(u64),
    /// Legacy `a=sctpmap` (draft-ietf-mmusic-sctp-sdp-05).
    Sctpmap(Sctpmap),
    /// `a=candidate` (RFC 8839 §5.1), typed by `ferrtc-ice`.
    Candidate(Candidate),
    /// `a=end-of-candidates` (RFC 8840 §8.2).
    EndOfCandidates,
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive` (RFC 8866 §6.7).
    Direction(Direction),
    /// `a=bundle-only` (RFC 9143 §6).
    BundleOnly,
    /// `a=identity` (RFC 8827 §5.6.4.1, session level): the base64 identity
    /// assertion, then any `identity-extension`s after a space, kept as
    /// written; [`crate::SessionDescription::identity`] gives the assertion.
    Identity(String),
    /// `a=framerate` (RFC 8866 §6.17), frames per second.
    Framerate(f64),
    /// `a=ptime` (RFC 8866 §6.4), milliseconds.
    Ptime(f64),
    /// `a=maxptime` (RFC 8866 §6.5), milliseconds.
    MaxPtime(f64),
    /// Any other attribute, kept as written: `a=<name>` or `a=<name>:<value>`.
    Other {
        /// Attribute name.
        name: String,
        /// Value after the first `:`, if any.
        value: Option<String>,
    },
}

/// `a=group` semantics and the mids it groups (RFC 5888 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Semantics token: `BUNDLE`, `LS`, `FID`, ...
    pub semantics: String,
    /// Identification tags (mids), in order.
    pub mids: Vec<String>,
}

impl Group {
    /// The BUNDLE semantics token (RFC 9143 §7.1).
    pub const BUNDLE: &'static str = "BUNDLE";
    /// The lip-sync semantics token (RFC 5888 §7).
    pub const LS: &'static str = "LS";

    /// Whether this is a BUNDLE group.
    pub fn is_bundle(&self) -> bool {
        self.semantics == Self::BUNDLE
    }
}

/// `a=msid:<stream id> [<track id>]` (RFC 8830 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msid {
    /// The MediaStream id (`-` for no stream).
    pub stream_id: String,
    /// The application data (track id), if present.
    pub track_id: Option<String>,
}

/// `a=msid-semantic: WMS <ids>` as browsers write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsidSemantic {
    /// Semantic token, `WMS` in practice.
    pub semantic: String,
    /// Stream ids or `*`.
    pub ids: Vec<String>,
    /// Chromium writes a space after the colon; kept so writing is lossless.
    pub space_after_colon: bool,
}

/// One `a=ice-options` token (RFC 8839 §5.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IceOption {
    /// `trickle` (RFC 8840).
    Trickle,
    /// `ice2` (RFC 8445).
    Ice2,
    /// `renomination` (draft-thatcher-ice-renomination).
    Renomination,
    /// Any other option.
    Other(String),
}

impl IceOption {
    fn parse(s: &str) -> Self {
        match s {
            "trickle" => Self::Trickle,
            "ice2" => Self::Ice2,
            "renomination" => Self::Renomination,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The token as written in SDP.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Trickle => "trickle",
            Self::Ice2 => "ice2",
            Self::Renomination => "renomination",
            Self::Other(s) => s,
        }
    }
}

/// Hash function of an `a=fingerprint` (RFC 8122 §5, IANA "Hash Function Textual Names").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashFunction {
    /// `sha-1`.
    Sha1,
    /// `sha-224`.
    Sha224,
    /// `sha-256`.
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
    /// Another name (`md5`, `md2`, ...), kept as written.
    Other(String),
}

impl HashFunction {
    /// Parses the textual name. The lower-case IANA spelling maps to a known
    /// variant; any other spelling is kept as [`HashFunction::Other`] so that
    /// writing is lossless (compare with [`HashFunction::normalized`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "sha-1" => Self::Sha1,
            "sha-224" => Self::Sha224,
            "sha-256" => Self::Sha256,
            "sha-384" => Self::Sha384,
            "sha-512" => Self::Sha512,
            _ => Self::Other(s.to_owned()),
        }
    }

    /// The same function with case ignored (RFC 8122 §5 names are case-insensitive).
    pub fn normalized(&self) -> Self {
        match self {
            Self::Other(s) => match Self::parse(&s.to_ascii_lowercase()) {
                Self::Other(_) => self.clone(),
                known => known,
            },
            known => known.clone(),
        }
    }

    /// The textual name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha224 => "sha-224",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
            Self::Other(s) => s,
        }
    }

    /// Digest length in bytes, for the known functions.
    pub fn digest_len(&self) -> Option<usize> {
        match self {
            Self::Sha1 => Some(20),
            Self::Sha224 => Some(28),
            Self::Sha256 => Some(32),
            Self::Sha384 => Some(48),
            Self::Sha512 => Some(64),
            Self::Other(_) => None,
        }
    }
}

/// `a=fingerprint:<hash> <hex>` (RFC 8122 §5).
///
/// The hex text is kept as written (upper or lower case) so writing is
/// lossless; [`Fingerprint::digest`] gives the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash function.
    pub hash: HashFunction,
    value: String,
}

impl Fingerprint {
    /// Builds a fingerprint from a digest, written as upper-case hex pairs.
    pub fn from_digest(hash: HashFunction, digest: &[u8]) -> Self {
        let mut value = String::with_capacity(digest.len() * 3);
        for (i, b) in digest.iter().enumerate() {
            if i > 0 {
                value.push(':');
            }
            value.push_str(&format!("{b:02X}"));
        }
        Self { hash, value }
    }

    /// The digest bytes.
    pub fn digest(&self) -> Vec<u8> {
        self.value
            .split(':')
            .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
            .collect()
    }

    /// The hex text as written (`AB:CD:...`).
    pub fn hex(&self) -> &str {
        &self.value
    }

    fn parse(v: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "a=fingerprint";
        let (hash, value) =
            split2(v).ok_or_else(|| ValueError::new(WHAT, "expected `<hash> <hex>`"))?;
        let hash = HashFunction::parse(hash);
        if hash.as_str().is_empty() || value.contains(' ') {
            return Err(ValueError::new(WHAT, "expected `<hash> <hex>`"));
        }
        let mut count = 0usize;
        for pair in value.split(':') {
            if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ValueError::new(
                    WHAT,
                    format!("bad hex pair in {}", quote(value)),
                ));
            }
            count += 1;
        }
        if let Some(len) = hash.normalized().digest_len()
            && len != count
        {
            return Err(ValueError::new(
                WHAT,
                format!("{} needs {len} bytes, got {count}", hash.as_str()),
            ));
        }
        Ok(Self {
            hash,
            value: value.to_owned(),
        })
    }
}

/// `a=setup` value (RFC 4145 §4): who opens the DTLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `active`: this side is the DTLS client.
    Active,
    /// `passive`: this side is the DTLS server.
    Passive,
    /// `actpass`: either; offers use it (RFC 8842 §5.2).
    ActPass,
    /// `holdconn`: not now.
    HoldConn,
}

impl Setup {
    /// The token as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
            Self::HoldConn => "holdconn",
        }
    }

    fn parse(s: &str) -> Result<Self, ValueError> {
        match s {
            "active" => Ok(Self::Active),
            "passive" => Ok(Self::Passive),
            "actpass" => Ok(Self::ActPass),
            "holdconn" => Ok(Self::HoldConn),
            _ => Err(ValueError::new(
                "a=setup",
                format!("unknown role {}", quote(s)),
            )),
        }
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// Optional `<nettype> <addrtype> <address>` triple, kept as written.
    pub address: Option<String>,
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name as written (`opus`, `VP8`, `rtx`, ...); compare case-insensitively.
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters (audio channels), if present.
    pub channels: Option<u16>,
}

/// `a=fmtp:<format> <parameters>` (RFC 8866 §6.15).
///
/// Parameters are kept as written; [`Fmtp::params`] splits the usual
/// `key=value;key=value` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// Payload type the parameters apply to.
    pub payload_type: u8,
    /// The parameter text.
    pub parameters: String,
}

impl Fmtp {
    /// Splits `key=value;key=value` parameters (RFC 8866 §6.15 common form).
    ///
    /// Entries without `=` come out with an empty value.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        split_fmtp_params(&self.parameters)
    }

    /// Value of one parameter, keys compared case-insensitively.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }
}

/// Splits `key=value;key=value` fmtp parameter text.
pub fn split_fmtp_params(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(';').filter_map(|p| {
        let p = p.trim();
        if p.is_empty() {
            return None;
        }
        Some(match p.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (p, ""),
        })
    })
}

/// `a=rtcp-fb:<pt or *> <type> [<parameter>]` (RFC 4585 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFb {
    /// Payload type, `None` for the `*` wildcard.
    pub payload_type: Option<u8>,
    /// Feedback type: `nack`, `ccm`, `transport-cc`, `goog-remb`, ...
    pub kind: String,
    /// Parameter such as `pli` or `fir`, if present.
    pub parameter: Option<String>,
}

/// Direction of a media section or of a header extension (RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `sendrecv`.
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive`.
    Inactive,
}

impl Direction {
    /// The token as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// Parses a direction token.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// Whether this direction sends.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether this direction receives.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// Builds a direction from its send and receive halves.
    pub fn from_parts(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }

    /// The direction as the other side sees it (send and receive swapped).
    pub fn reverse(self) -> Self {
        Self::from_parts(self.receives(), self.sends())
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a=extmap:<id>[/<direction>] <uri> [<attributes>]` (RFC 8285 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extmap {
    /// Local identifier, 1..=255 (1..=14 for one-byte headers).
    pub id: u16,
    /// Optional direction.
    pub direction: Option<Direction>,
    /// Extension URI.
    pub uri: String,
    /// Extension attributes, kept as written.
    pub attributes: Option<String>,
}

/// `a=ssrc:<ssrc> <attribute>[:<value>]` (RFC 5576 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssrc {
    /// The synchronization source.
    pub ssrc: u32,
    /// Source attribute name: `cname`, `msid`, ...
    pub attribute: String,
    /// Source attribute value, if any (may contain spaces).
    pub value: Option<String>,
}

/// Semantics of an `a=ssrc-group` (RFC 5576 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsrcGroupSemantics {
    /// `FID`: flow identification, RTX (RFC 5576 §5).
    Fid,
    /// `SIM`: simulcast layers.
    Sim,
    /// `FEC-FR`: forward error correction (RFC 5956).
    FecFr,
    /// Any other semantics.
    Other(String),
}

impl SsrcGroupSemantics {
    fn parse(s: &str) -> Self {
        match s {
            "FID" => Self::Fid,
            "SIM" => Self::Sim,
            "FEC-FR" => Self::FecFr,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The token as written in SDP.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Fid => "FID",
            Self::Sim => "SIM",
            Self::FecFr => "FEC-FR",
            Self::Other(s) => s,
        }
    }
}

/// `a=ssrc-group:<semantics> <ssrc>...` (RFC 5576 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    /// Group semantics.
    pub semantics: SsrcGroupSemantics,
    /// The SSRCs, in order.
    pub ssrcs: Vec<u32>,
}

/// Direction of an `a=rid` or of an `a=simulcast` stream list (RFC 8851 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RidDirection {
    /// `send`.
    Send,
    /// `recv`.
    Recv,
}

impl RidDirection {
    /// The token as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Recv => "recv",
        }
    }

    /// The opposite direction, as the answerer sees the offerer's streams.
    pub fn reverse(self) -> Self {
        match self {
            Self::Send => Self::Recv,
            Self::Recv => Self::Send,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "send" => Some(Self::Send),
            "recv" => Some(Self::Recv),
            _ => None,
        }
    }
}

/// `a=rid:<id> <direction> [pt=<fmt list>;][<restriction>=<value>;...]` (RFC 8851 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rid {
    /// The rid (RtpStreamId).
    pub id: String,
    /// Direction.
    pub direction: RidDirection,
    /// Payload types from `pt=`, empty when absent.
    pub payload_types: Vec<u8>,
    /// Other restrictions (`max-width=1280`, ...), in order, kept as written.
    pub restrictions: Vec<String>,
}

/// One stream of an `a=simulcast` alternative list (RFC 8853 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulcastRid {
    /// The rid.
    pub id: String,
    /// Whether it starts paused (`~`).
    pub paused: bool,
}

/// One direction of an `a=simulcast` (RFC 8853 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulcastStreams {
    /// `send` or `recv`.
    pub direction: RidDirection,
    /// Streams separated by `;`, each a list of alternatives separated by `,`.
    pub streams: Vec<Vec<SimulcastRid>>,
}

/// `a=simulcast:<dir> <list> [<dir> <list>]` (RFC 8853 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulcast {
    /// One or two directions, in the order written.
    pub directions: Vec<SimulcastStreams>,
}

impl Simulcast {
    /// The streams of one direction, if present.
    pub fn streams(&self, direction: RidDirection) -> Option<&SimulcastStreams> {
        self.directions.iter().find(|d| d.direction == direction)
    }
}

/// Legacy `a=sctpmap:<port> <protocol> [<streams>]` (draft-ietf-mmusic-sctp-sdp-05).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sctpmap {
    /// SCTP port.
    pub port: u16,
    /// Protocol, `webrtc-datachannel`.
    pub protocol: String,
    /// Number of streams, if present.
    pub streams: Option<u32>,
}

fn split2(v: &str) -> Option<(&str, &str)> {
    let (a, b) = v.split_once(' ')?;
    if a.is_empty() || b.is_empty() {
        return None;
    }
    Some((a, b))
}

fn num<T: std::str::FromStr>(what: &'static str, s: &str) -> Result<T, ValueError> {
    // Only plain decimal digits: no sign, no spaces.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(what, format!("not a number: {}", quote(s))));
    }
    s.parse()
        .map_err(|_| ValueError::new(what, format!("out of range: {}", quote(s))))
}

fn real(what: &'static str, s: &str) -> Result<f64, ValueError> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
        && s.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if !ok {
        return Err(ValueError::new(what, format!("not a number: {}", quote(s))));
    }
    s.parse()
        .map_err(|_| ValueError::new(what, format!("not a number: {}", quote(s))))
}

fn token(what: &'static str, s: &str) -> Result<String, ValueError> {
    if s.is_empty() || s.contains(' ') {
        return Err(ValueError::new(
            what,
            format!("expected one token, got {}", quote(s)),
        ));
    }
    Ok(s.to_owned())
}

fn flag(name: &str, value: Option<&str>, a: Attribute) -> Result<Attribute, ValueError> {
    match value {
        None => Ok(a),
        Some(_) => Err(ValueError::new(
            "property attribute",
            format!("`a={name}` takes no value"),
        )),
    }
}

fn need<'a>(what: &'static str, value: Option<&'a str>) -> Result<&'a str, ValueError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ValueError::new(what, "missing value")),
    }
}

impl Attribute {
    /// Parses one attribute from its name and optional value (text after `a=`).
    pub(crate) fn parse(name: &str, value: Option<&str>) -> Result<Self, ValueError> {
        use Attribute as A;
        Ok(match name {
            "group" => {
                let v = need("a=group", value)?;
                let mut it = v.split(' ');
                let semantics = token("a=group", it.next().unwrap_or_default())?;
                let mids = it.map(|m| token("a=group", m)).collect::<Result<_, _>>()?;
                A::Group(Group { semantics, mids })
            }
            "mid" => A::Mid(token("a=mid", need("a=mid", value)?)?),
            "msid" => {
                let v = need("a=msid", value)?;
                let (stream_id, track_id) = match v.split_once(' ') {
                    Some((s, t)) => (token("a=msid", s)?, Some(token("a=msid", t)?)),
                    None => (token("a=msid", v)?, None),
                };
                A::Msid(Msid {
                    stream_id,
                    track_id,
                })
            }
            "msid-semantic" => {
                let v = need("a=msid-semantic", value)?;
                let (space_after_colon, v) = match v.strip_prefix(' ') {
                    Some(rest) => (true, rest),
                    None => (false, v),
                };
                let mut it = v.split(' ');
                let semantic = token("a=msid-semantic", it.next().unwrap_or_default())?;
                let ids = it
                    .map(|m| token("a=msid-semantic", m))
                    .collect::<Result<_, _>>()?;
                A::MsidSemantic(MsidSemantic {
                    semantic,
                    ids,
                    space_after_colon,
                })
            }
            "ice-ufrag" => A::IceUfrag(token("a=ice-ufrag", need("a=ice-ufrag", value)?)?),
            "ice-pwd" => A::IcePwd(token("a=ice-pwd", need("a=ice-pwd", value)?)?),
            "ice-options" => {
                let v = need("a=ice-options", value)?;
                let opts = v
                    .split(' ')
                    .map(|o| token("a=ice-options", o).map(|o| IceOption::parse(&o)))
                    .collect::<Result<_, _>>()?;
                A::IceOptions(opts)
            }
            "ice-lite" => flag(name, value, A::IceLite)?,
            "fingerprint" => A::Fingerprint(Fingerprint::parse(need("a=fingerprint", value)?)?),
            "setup" => A::Setup(Setup::parse(need("a=setup", value)?)?),
            "tls-id" => A::TlsId(token("a=tls-id", need("a=tls-id", value)?)?),
            "rtcp" => {
                let v = need("a=rtcp", value)?;
                let (port, address) = match v.split_once(' ') {
                    Some((p, a)) => (p, Some(a.to_owned())),
                    None => (v, None),
                };
                A::Rtcp(Rtcp {
                    port: num("a=rtcp", port)?,
                    address,
                })
            }
            "rtcp-mux" => flag(name, value, A::RtcpMux)?,
            "rtcp-mux-only" => flag(name, value, A::RtcpMuxOnly)?,
            "rtcp-rsize" => flag(name, value, A::RtcpRsize)?,
            "rtpmap" => {
                const W: &str = "a=rtpmap";
                let (pt, enc) = split2(need(W, value)?)
                    .ok_or_else(|| ValueError::new(W, "expected `<pt> <encoding>/<rate>`"))?;
                let mut parts = enc.split('/');
                let encoding = token(W, parts.next().unwrap_or_default())?;
                let clock_rate = num(W, parts.next().unwrap_or_default())?;
                let channels = parts.next().map(|c| num(W, c)).transpose()?;
                if parts.next().is_some() {
                    return Err(ValueError::new(W, "too many `/` parts"));
                }
                A::Rtpmap(Rtpmap {
                    payload_type: num(W, pt)?,
                    encoding,
                    clock_rate,
                    channels,
                })
            }
            "fmtp" => {
                const W: &str = "a=fmtp";
                let (pt, parameters) = split2(need(W, value)?)
                    .ok_or_else(|| ValueError::new(W, "expected `<pt> <parameters>`"))?;
                A::Fmtp(Fmtp {
                    payload_type: num(W, pt)?,
                    parameters: parameters.to_owned(),
                })
            }
            "rtcp-fb" => {
                const W: &str = "a=rtcp-fb";
                let (pt, rest) = split2(need(W, value)?)
                    .ok_or_else(|| ValueError::new(W, "expected `<pt> <type>`"))?;
                let payload_type = if pt == "*" { None } else { Some(num(W, pt)?) };
                let (kind, parameter) = match rest.split_once(' ') {
                    Some((k, p)) => (token(W, k)?, Some(p.to_owned())),
                    None => (token(W, rest)?, None),
                };
                A::RtcpFb(RtcpFb {
                    payload_type,
                    kind,
                    parameter,
                })
            }
            "extmap" => {
                const W: &str = "a=extmap";
                let (idd, rest) = split2(need(W, value)?)
                    .ok_or_else(|| ValueError::new(W, "expected `<id> <uri>`"))?;
                let (id, direction) = match idd.split_once('/') {
                    Some((i, d)) => (
                        i,
                        Some(Direction::parse(d).ok_or_else(|| {
                            ValueError::new(W, format!("bad direction {}", quote(d)))
                        })?),
                    ),
                    None => (idd, None),
                };
                let id: u16 = num(W, id)?;
                if !(1..=255).contains(&id) {
                    return Err(ValueError::new(W, format!("id {id} not in 1..=255")));
                }
                let (uri, attributes) = match rest.split_once(' ') {
                    Some((u, a)) => (token(W, u)?, Some(a.to_owned())),
                    None => (token(W, rest)?, None),
                };
                A::Extmap(Extmap {
                    id,
                    direction,
                    uri,
                    attributes,
                })
            }
            "extmap-allow-mixed" => flag(name, value, A::ExtmapAllowMixed)?,
            "ssrc" => {
                const W: &str = "a=ssrc";
                let (ssrc, rest) = split2(need(W, value)?)
                    .ok_or_else(|| ValueError::new(W, "expected `<ssrc> <attribute>`"))?;
                let (attribute, value) = match rest.split_once(':') {
                    Some((a, v)) => (token(W, a)?, Some(v.to_owned())),
                    None => (token(W, rest)?, None),
                };
                A::Ssrc(Ssrc {
                    ssrc: num(W, ssrc)?,
                    attribute,
                    value,
                })
            }
            "ssrc-group" => {
                const W: &str = "a=ssrc-group";
                let v = need(W, value)?;
                let mut it = v.split(' ');
                let semantics =
                    SsrcGroupSemantics::parse(&token(W, it.next().unwrap_or_default())?);
                let ssrcs = it.map(|s| num(W, s)).collect::<Result<_, _>>()?;
                A::SsrcGroup(SsrcGroup { semantics, ssrcs })
            }
            "rid" => A::Rid(parse_rid(need("a=rid", value)?)?),
            "simulcast" => A::Simulcast(parse_simulcast(need("a=simulcast", value)?)?),
            "sctp-port" => A::SctpPort(num("a=sctp-port", need("a=sctp-port", value)?)?),
            "max-message-size" => A::MaxMessageSize(num(
                "a=max-message-size",
                need("a=max-message-size", value)?,
            )?),
            "sctpmap" => {
                const W: &str = "a=sctpmap";
                let v = need(W, value)?;
                let mut it = v.split(' ');
                let port = num(W, it.next().unwrap_or_default())?;
                let protocol = token(W, it.next().unwrap_or_default())?;
                let streams = it.next().map(|s| num(W, s)).transpose()?;
                if it.next().is_some() {
                    return Err(ValueError::new(W, "too many fields"));
                }
                A::Sctpmap(Sctpmap {
                    port,
                    protocol,
                    streams,
                })
            }
            "candidate" => A::Candidate(need("a=candidate", value)?.parse().map_err(
                |e: ferrtc_ice::CandidateError| ValueError::new("a=candidate", e.to_string()),
            )?),
            "end-of-candidates" => flag(name, value, A::EndOfCandidates)?,
            "sendrecv" | "sendonly" | "recvonly" | "inactive" => {
                let d = Direction::parse(name).unwrap_or(Direction::Inactive);
                flag(name, value, A::Direction(d))?
            }
            "bundle-only" => flag(name, value, A::BundleOnly)?,
            "identity" => A::Identity(need("a=identity", value)?.to_owned()),
            "framerate" => A::Framerate(real("a=framerate", need("a=framerate", value)?)?),
            "ptime" => A::Ptime(real("a=ptime", need("a=ptime", value)?)?),
            "maxptime" => A::MaxPtime(real("a=maxptime", need("a=maxptime", value)?)?),
            _ => A::Other {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            },
        })
    }

    /// The attribute name (text between `a=` and `:`).
    pub fn name(&self) -> &str {
        use Attribute as A;
        match self {
            A::Group(_) => "group",
            A::Mid(_) => "mid",
            A::Msid(_) => "msid",
            A::MsidSemantic(_) => "msid-semantic",
            A::IceUfrag(_) => "ice-ufrag",
            A::IcePwd(_) => "ice-pwd",
            A::IceOptions(_) => "ice-options",
            A::IceLite => "ice-lite",
            A::Fingerprint(_) => "fingerprint",
            A::Setup(_) => "setup",
            A::TlsId(_) => "tls-id",
            A::Rtcp(_) => "rtcp",
            A::RtcpMux => "rtcp-mux",
            A::RtcpMuxOnly => "rtcp-mux-only",
            A::RtcpRsize => "rtcp-rsize",
            A::Rtpmap(_) => "rtpmap",
            A::Fmtp(_) => "fmtp",
            A::RtcpFb(_) => "rtcp-fb",
            A::Extmap(_) => "extmap",
            A::ExtmapAllowMixed => "extmap-allow-mixed",
            A::Ssrc(_) => "ssrc",
            A::SsrcGroup(_) => "ssrc-group",
            A::Rid(_) => "rid",
            A::Simulcast(_) => "simulcast",
            A::SctpPort(_) => "sctp-port",
            A::MaxMessageSize(_) => "max-message-size",
            A::Sctpmap(_) => "sctpmap",
            A::Candidate(_) => "candidate",
            A::EndOfCandidates => "end-of-candidates",
            A::Direction(d) => d.as_str(),
            A::BundleOnly => "bundle-only",
            A::Identity(_) => "identity",
            A::Framerate(_) => "framerate",
            A::Ptime(_) => "ptime",
            A::MaxPtime(_) => "maxptime",
            A::Other { name, .. } => name,
        }
    }
}

fn parse_rid(v: &str) -> Result<Rid, ValueError> {
    const W: &str = "a=rid";
    let mut it = v.splitn(3, ' ');
    let id = token(W, it.next().unwrap_or_default())?;
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ValueError::new(W, format!("bad rid-id {}", quote(&id))));
    }
    let dir = it.next().unwrap_or_default();
    let direction = RidDirection::parse(dir)
        .ok_or_else(|| ValueError::new(W, format!("bad direction {}", quote(dir))))?;
    let mut payload_types = Vec::new();
    let mut restrictions = Vec::new();
    if let Some(params) = it.next() {
        for (i, p) in params.split(';').enumerate() {
            if p.is_empty() || p.contains(' ') {
                return Err(ValueError::new(W, format!("bad restriction {}", quote(p))));
            }
            if i == 0
                && let Some(pts) = p.strip_prefix("pt=")
            {
                payload_types = pts
                    .split(',')
                    .map(|pt| num(W, pt))
                    .collect::<Result<_, _>>()?;
                if payload_types.is_empty() {
                    return Err(ValueError::new(W, "empty pt list"));
                }
                continue;
            }
            restrictions.push(p.to_owned());
        }
    }
    Ok(Rid {
        id,
        direction,
        payload_types,
        restrictions,
    })
}

fn parse_simulcast(v: &str) -> Result<Simulcast, ValueError> {
    const W: &str = "a=simulcast";
    let parts: Vec<&str> = v.split(' ').collect();
    if parts.len() != 2 && parts.len() != 4 {
        return Err(ValueError::new(
            W,
            "expected `<send|recv> <list>` once or twice",
        ));
    }
    let mut directions: Vec<SimulcastStreams> = Vec::new();
    for pair in parts.chunks(2) {
        let (dir, list) = match pair {
            [d, l] => (*d, *l),
            _ => return Err(ValueError::new(W, "missing stream list")),
        };
        let direction = RidDirection::parse(dir)
            .ok_or_else(|| ValueError::new(W, format!("bad direction {}", quote(dir))))?;
        if directions.iter().any(|d| d.direction == direction) {
            return Err(ValueError::new(W, "direction given twice"));
        }
        let mut streams = Vec::new();
        for stream in list.split(';') {
            let mut alts = Vec::new();
            for alt in stream.split(',') {
                let (paused, id) = match alt.strip_prefix('~') {
                    Some(id) => (true, id),
                    None => (false, alt),
                };
                if id.is_empty()
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(ValueError::new(W, format!("bad rid {}", quote(alt))));
                }
                alts.push(SimulcastRid {
                    id: id.to_owned(),
                    paused,
                });
            }
            streams.push(alts);
        }
        directions.push(SimulcastStreams { direction, streams });
    }
    Ok(Simulcast { directions })
}

fn join<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Writes the attribute as it appears after `a=` (no line ending).
impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Attribute as A;
        let name = self.name();
        match self {
            A::IceLite
            | A::RtcpMux
            | A::RtcpMuxOnly
            | A::RtcpRsize
            | A::ExtmapAllowMixed
            | A::EndOfCandidates
            | A::Direction(_)
            | A::BundleOnly => f.write_str(name),
            A::Other { name, value } => match value {
                Some(v) => write!(f, "{name}:{v}"),
                None => f.write_str(name),
            },
            _ => {
                write!(f, "{name}:")?;
                self.fmt_value(f)
            }
        }
    }
}

impl Attribute {
    fn fmt_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Attribute as A;
        match self {
            A::Group(g) => {
                f.write_str(&g.semantics)?;
                for m in &g.mids {
                    write!(f, " {m}")?;
                }
                Ok(())
            }
            A::Mid(s) | A::IceUfrag(s) | A::IcePwd(s) | A::TlsId(s) | A::Identity(s) => {
                f.write_str(s)
            }
            A::Candidate(c) => write!(f, "{}", c.value()),
            A::Msid(m) => {
                f.write_str(&m.stream_id)?;
                if let Some(t) = &m.track_id {
                    write!(f, " {t}")?;
                }
                Ok(())
            }
            A::MsidSemantic(m) => {
                if m.space_after_colon {
                    f.write_str(" ")?;
                }
                f.write_str(&m.semantic)?;
                for id in &m.ids {
                    write!(f, " {id}")?;
                }
                Ok(())
            }
            A::IceOptions(opts) => {
                for (i, o) in opts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str(o.as_str())?;
                }
                Ok(())
            }
            A::Fingerprint(fp) => write!(f, "{} {}", fp.hash.as_str(), fp.value),
            A::Setup(s) => f.write_str(s.as_str()),
            A::Rtcp(r) => {
                write!(f, "{}", r.port)?;
                if let Some(a) = &r.address {
                    write!(f, " {a}")?;
                }
                Ok(())
            }
            A::Rtpmap(r) => {
                write!(f, "{} {}/{}", r.payload_type, r.encoding, r.clock_rate)?;
                if let Some(c) = r.channels {
                    write!(f, "/{c}")?;
                }
                Ok(())
            }
            A::Fmtp(p) => write!(f, "{} {}", p.payload_type, p.parameters),
            A::RtcpFb(fb) => {
                match fb.payload_type {
                    Some(pt) => write!(f, "{pt}")?,
                    None => f.write_str("*")?,
                }
                write!(f, " {}", fb.kind)?;
                if let Some(p) = &fb.parameter {
                    write!(f, " {p}")?;
                }
                Ok(())
            }
            A::Extmap(e) => {
                write!(f, "{}", e.id)?;
                if let Some(d) = e.direction {
                    write!(f, "/{d}")?;
                }
                write!(f, " {}", e.uri)?;
                if let Some(a) = &e.attributes {
                    write!(f, " {a}")?;
                }
                Ok(())
            }
            A::Ssrc(s) => {
                write!(f, "{} {}", s.ssrc, s.attribute)?;
                if let Some(v) = &s.value {
                    write!(f, ":{v}")?;
                }
                Ok(())
            }
            A::SsrcGroup(g) => {
                f.write_str(g.semantics.as_str())?;
                for s in &g.ssrcs {
                    write!(f, " {s}")?;
                }
                Ok(())
            }
            A::Rid(r) => {
                write!(f, "{} {}", r.id, r.direction.as_str())?;
                let mut first = true;
                if !r.payload_types.is_empty() {
                    f.write_str(" pt=")?;
                    join(f, &r.payload_types, ",")?;
                    first = false;
                }
                for restriction in &r.restrictions {
                    f.write_str(if first { " " } else { ";" })?;
                    f.write_str(restriction)?;
                    first = false;
                }
                Ok(())
            }
            A::Simulcast(s) => {
                for (i, d) in s.directions.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{} ", d.direction.as_str())?;
                    for (j, stream) in d.streams.iter().enumerate() {
                        if j > 0 {
                            f.write_str(";")?;
                        }
                        for (k, alt) in stream.iter().enumerate() {
                            if k > 0 {
                                f.write_str(",")?;
                            }
                            if alt.paused {
                                f.write_str("~")?;
                            }
                            f.write_str(&alt.id)?;
                        }
                    }
                }
                Ok(())
            }
            A::SctpPort(p) => write!(f, "{p}"),
            A::MaxMessageSize(m) => write!(f, "{m}"),
            A::Sctpmap(m) => {
                write!(f, "{} {}", m.port, m.protocol)?;
                if let Some(s) = m.streams {
                    write!(f, " {s}")?;
                }
                Ok(())
            }
            A::Framerate(x) | A::Ptime(x) | A::MaxPtime(x) => write!(f, "{x}"),
            // Flags and `Other` are written by `Display` directly.
            _ => Ok(()),
        }
    }
}
