//! The session description model (RFC 8866 §5).

use std::fmt;

use crate::attribute::{
    Attribute, Direction, Extmap, Fingerprint, Fmtp, Group, Rid, RtcpFb, Rtpmap, Setup, Simulcast,
    Ssrc, SsrcGroup,
};

/// A whole session description: session-level fields, then media sections (RFC 8866 §5).
///
/// Parse with [`str::parse`] or [`crate::parse`]; write with `to_string()` or
/// [`SessionDescription::write_to`]. Writing always emits CRLF line endings.
///
/// ```
/// use ferrtc_sdp::SessionDescription;
/// let text = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
///             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
///             c=IN IP4 0.0.0.0\r\na=mid:0\r\na=sctp-port:5000\r\n";
/// let sdp: SessionDescription = text.parse().unwrap();
/// assert_eq!(sdp.media[0].mid(), Some("0"));
/// assert_eq!(sdp.media[0].sctp_port(), Some(5000));
/// assert_eq!(sdp.to_string(), text);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SessionDescription {
    /// `o=` origin.
    pub origin: Origin,
    /// `s=` session name (`-` in WebRTC).
    pub session_name: String,
    /// `i=` session information.
    pub information: Option<String>,
    /// `u=` URI.
    pub uri: Option<String>,
    /// `e=` email addresses.
    pub emails: Vec<String>,
    /// `p=` phone numbers.
    pub phones: Vec<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines, each with its `r=` lines; at least one.
    pub times: Vec<Timing>,
    /// `z=` time zone adjustments, as written.
    pub time_zones: Option<String>,
    /// `k=` (obsolete) encryption key, as written.
    pub key: Option<String>,
    /// Session-level attributes, in order.
    pub attributes: Vec<Attribute>,
    /// Media sections (`m=` and what follows), in order.
    pub media: Vec<MediaDescription>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>` (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Username, `-` in WebRTC.
    pub username: String,
    /// Session id: decimal digits, kept as written (may exceed 64 bits elsewhere).
    pub session_id: String,
    /// Session version; JSEP increments it on every change (RFC 8829 §5.2.2).
    pub session_version: u64,
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Unicast address.
    pub address: String,
}

/// `c=<nettype> <addrtype> <address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Address, with `/ttl` and `/count` suffixes as written.
    pub address: String,
}

impl Connection {
    /// The JSEP placeholder `IN IP4 0.0.0.0` (RFC 8829 §5.2.1).
    pub fn unspecified_ipv4() -> Self {
        Self {
            net_type: "IN".into(),
            addr_type: "IP4".into(),
            address: "0.0.0.0".into(),
        }
    }
}

/// Bandwidth modifier of a `b=` line (RFC 8866 §5.8, RFC 3890).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BandwidthType {
    /// `AS`: application specific maximum, kbit/s.
    As,
    /// `TIAS`: transport independent application specific maximum, bit/s (RFC 3890).
    Tias,
    /// `CT`: conference total, kbit/s.
    Ct,
    /// `RR`: RTCP bandwidth for receivers (RFC 3556).
    Rr,
    /// `RS`: RTCP bandwidth for senders (RFC 3556).
    Rs,
    /// Any other modifier, as written.
    Other(String),
}

impl BandwidthType {
    /// The modifier as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::As => "AS",
            Self::Tias => "TIAS",
            Self::Ct => "CT",
            Self::Rr => "RR",
            Self::Rs => "RS",
            Self::Other(s) => s,
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "AS" => Self::As,
            "TIAS" => Self::Tias,
            "CT" => Self::Ct,
            "RR" => Self::Rr,
            "RS" => Self::Rs,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// `b=<bwtype>:<bandwidth>` (RFC 8866 §5.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// Modifier.
    pub kind: BandwidthType,
    /// Value, in the unit of the modifier.
    pub value: u64,
}

/// `t=<start> <stop>` with its `r=` repeat lines (RFC 8866 §5.9, §5.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Start time (NTP seconds), 0 in WebRTC.
    pub start: u64,
    /// Stop time (NTP seconds), 0 in WebRTC.
    pub stop: u64,
    /// `r=` lines, as written.
    pub repeats: Vec<String>,
}

/// Media type of an `m=` line (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `application` (data channels).
    Application,
    /// Any other media type, as written.
    Other(String),
}

impl MediaKind {
    /// The media type as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Application => "application",
            Self::Other(s) => s,
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "audio" => Self::Audio,
            "video" => Self::Video,
            "application" => Self::Application,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One media section: `m=<media> <port>[/<count>] <proto> <fmt>...` and its
/// lines (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaDescription {
    /// Media type.
    pub kind: MediaKind,
    /// Port; 0 marks a rejected or stopped section (RFC 8829 §5.2.2, §5.3.1).
    pub port: u16,
    /// Number of ports after `/`, if written.
    pub port_count: Option<u16>,
    /// Transport protocol: `UDP/TLS/RTP/SAVPF`, `UDP/DTLS/SCTP`, ...
    pub protocol: String,
    /// Formats: RTP payload types, or `webrtc-datachannel`.
    pub formats: Vec<String>,
    /// `i=` media title.
    pub information: Option<String>,
    /// `c=` lines.
    pub connections: Vec<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` (obsolete) encryption key, as written.
    pub key: Option<String>,
    /// Media-level attributes, in order.
    pub attributes: Vec<Attribute>,
}

macro_rules! find_attr {
    ($attrs:expr, $pat:pat => $out:expr) => {
        $attrs.iter().find_map(|a| match a {
            $pat => Some($out),
            _ => None,
        })
    };
}

macro_rules! filter_attr {
    ($attrs:expr, $pat:pat => $out:expr) => {
        $attrs.iter().filter_map(|a| match a {
            $pat => Some($out),
            _ => None,
        })
    };
}

impl SessionDescription {
    /// Writes the description into `out`, one CRLF-terminated line per field.
    pub fn write_to(&self, out: &mut String) {
        use fmt::Write;
        // Writing into a String cannot fail.
        let _ = write!(out, "{self}");
    }

    /// The `a=group` lines.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        filter_attr!(self.attributes, Attribute::Group(g) => g)
    }

    /// The BUNDLE groups (RFC 9143).
    pub fn bundle_groups(&self) -> impl Iterator<Item = &Group> {
        self.groups().filter(|g| g.is_bundle())
    }

    /// Whether the session has `a=ice-lite` (RFC 8839 §5.3).
    pub fn ice_lite(&self) -> bool {
        self.attributes.contains(&Attribute::IceLite)
    }

    /// Whether the session has `a=extmap-allow-mixed` (RFC 8285 §6).
    pub fn extmap_allow_mixed(&self) -> bool {
        self.attributes.contains(&Attribute::ExtmapAllowMixed)
    }

    /// The media section with this mid.
    pub fn media_by_mid(&self, mid: &str) -> Option<&MediaDescription> {
        self.media.iter().find(|m| m.mid() == Some(mid))
    }

    /// The direction of media section `m` (RFC 8866 §6.7): its own
    /// direction attribute, else the session-level one, else `sendrecv`.
    pub fn direction_of(&self, m: &MediaDescription) -> Direction {
        find_attr!(m.attributes, Attribute::Direction(d) => *d)
            .or_else(|| find_attr!(self.attributes, Attribute::Direction(d) => *d))
            .unwrap_or(Direction::SendRecv)
    }

    /// Session-level `a=ice-ufrag`.
    pub fn ice_ufrag(&self) -> Option<&str> {
        find_attr!(self.attributes, Attribute::IceUfrag(s) => s.as_str())
    }

    /// Session-level `a=ice-pwd`.
    pub fn ice_pwd(&self) -> Option<&str> {
        find_attr!(self.attributes, Attribute::IcePwd(s) => s.as_str())
    }

    /// Session-level `a=fingerprint` lines.
    pub fn fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        filter_attr!(self.attributes, Attribute::Fingerprint(f) => f)
    }

    /// Session-level `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        find_attr!(self.attributes, Attribute::Setup(s) => *s)
    }

    /// The identity assertion of the session-level `a=identity` (RFC 8827
    /// §5.6.4.1, W3C webrtc-identity §9.5): the base64 of the JSON
    /// `{"idp":{"domain":..,"protocol":..},"assertion":..}`, without the
    /// identity extensions that may follow it after a space. The attribute
    /// is session level only (RFC 8827 §5.6.4.1): a media-level one is not
    /// looked at.
    pub fn identity(&self) -> Option<&str> {
        find_attr!(self.attributes, Attribute::Identity(s) => s.as_str())
            .map(|v| v.split(' ').next().unwrap_or_default())
    }
}

impl MediaDescription {
    /// A new section with no lines but the `m=` line.
    pub fn new(kind: MediaKind, port: u16, protocol: &str, formats: Vec<String>) -> Self {
        Self {
            kind,
            port,
            port_count: None,
            protocol: protocol.to_owned(),
            formats,
            information: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// Whether the protocol carries RTP (`RTP/` in it).
    pub fn is_rtp(&self) -> bool {
        self.protocol.contains("RTP/")
    }

    /// Whether the protocol is SCTP (data channels, RFC 8841).
    pub fn is_sctp(&self) -> bool {
        self.protocol.ends_with("SCTP")
    }

    /// Whether the section is rejected or stopped: port 0 without `a=bundle-only`
    /// (RFC 8829 §5.3.1, RFC 9143 §7.3.3).
    pub fn is_rejected(&self) -> bool {
        self.port == 0 && !self.bundle_only()
    }

    /// `a=mid`.
    pub fn mid(&self) -> Option<&str> {
        find_attr!(self.attributes, Attribute::Mid(s) => s.as_str())
    }

    /// The section's own direction attribute; `sendrecv` when absent (RFC
    /// 8866 §6.7). A peer's description may give it at session level
    /// instead: read that with [`SessionDescription::direction_of`].
    pub fn direction(&self) -> Direction {
        find_attr!(self.attributes, Attribute::Direction(d) => *d).unwrap_or(Direction::SendRecv)
    }

    /// `a=ice-ufrag`.
    pub fn ice_ufrag(&self) -> Option<&str> {
        find_attr!(self.attributes, Attribute::IceUfrag(s) => s.as_str())
    }

    /// `a=ice-pwd`.
    pub fn ice_pwd(&self) -> Option<&str> {
        find_attr!(self.attributes, Attribute::IcePwd(s) => s.as_str())
    }

    /// `a=ice-options` tokens.
    pub fn ice_options(&self) -> impl Iterator<Item = &crate::IceOption> {
        filter_attr!(self.attributes, Attribute::IceOptions(o) => o).flatten()
    }

    /// `a=fingerprint` lines.
    pub fn fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        filter_attr!(self.attributes, Attribute::Fingerprint(f) => f)
    }

    /// `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        find_attr!(self.attributes, Attribute::Setup(s) => *s)
    }

    /// `a=candidate` lines (RFC 8839 §5.1).
    pub fn candidates(&self) -> impl Iterator<Item = &ferrtc_ice::Candidate> {
        filter_attr!(self.attributes, Attribute::Candidate(c) => c)
    }

    /// `a=rtpmap` lines.
    pub fn rtpmaps(&self) -> impl Iterator<Item = &Rtpmap> {
        filter_attr!(self.attributes, Attribute::Rtpmap(r) => r)
    }

    /// The `a=rtpmap` of one payload type.
    pub fn rtpmap(&self, pt: u8) -> Option<&Rtpmap> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// The `a=fmtp` of one payload type.
    pub fn fmtp(&self, pt: u8) -> Option<&Fmtp> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp(f) if f.payload_type == pt => Some(f),
            _ => None,
        })
    }

    /// The `a=rtcp-fb` lines that apply to a payload type (its own and `*`).
    pub fn rtcp_fbs(&self, pt: u8) -> impl Iterator<Item = &RtcpFb> {
        filter_attr!(self.attributes, Attribute::RtcpFb(f) => f)
            .filter(move |f| f.payload_type.is_none_or(|p| p == pt))
    }

    /// `a=extmap` lines.
    pub fn extmaps(&self) -> impl Iterator<Item = &Extmap> {
        filter_attr!(self.attributes, Attribute::Extmap(e) => e)
    }

    /// `a=ssrc` lines.
    pub fn ssrcs(&self) -> impl Iterator<Item = &Ssrc> {
        filter_attr!(self.attributes, Attribute::Ssrc(s) => s)
    }

    /// `a=ssrc-group` lines.
    pub fn ssrc_groups(&self) -> impl Iterator<Item = &SsrcGroup> {
        filter_attr!(self.attributes, Attribute::SsrcGroup(g) => g)
    }

    /// `a=msid` lines.
    pub fn msids(&self) -> impl Iterator<Item = &crate::Msid> {
        filter_attr!(self.attributes, Attribute::Msid(m) => m)
    }

    /// `a=rid` lines.
    pub fn rids(&self) -> impl Iterator<Item = &Rid> {
        filter_attr!(self.attributes, Attribute::Rid(r) => r)
    }

    /// `a=simulcast`.
    pub fn simulcast(&self) -> Option<&Simulcast> {
        find_attr!(self.attributes, Attribute::Simulcast(s) => s)
    }

    /// `a=sctp-port`, or the port of a legacy `a=sctpmap`.
    pub fn sctp_port(&self) -> Option<u16> {
        find_attr!(self.attributes, Attribute::SctpPort(p) => *p)
            .or_else(|| find_attr!(self.attributes, Attribute::Sctpmap(m) => m.port))
    }

    /// `a=max-message-size`.
    pub fn max_message_size(&self) -> Option<u64> {
        find_attr!(self.attributes, Attribute::MaxMessageSize(m) => *m)
    }

    /// Whether a flag attribute (`rtcp-mux`, `bundle-only`, ...) is present.
    pub fn has(&self, flag: &Attribute) -> bool {
        self.attributes.contains(flag)
    }

    /// `a=rtcp-mux`.
    pub fn rtcp_mux(&self) -> bool {
        self.has(&Attribute::RtcpMux)
    }

    /// `a=bundle-only`.
    pub fn bundle_only(&self) -> bool {
        self.has(&Attribute::BundleOnly)
    }

    /// `a=end-of-candidates`.
    pub fn end_of_candidates(&self) -> bool {
        self.has(&Attribute::EndOfCandidates)
    }

    /// RTP payload types of the `m=` line, skipping formats that are not numbers.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }
}

struct Line<'a, T: fmt::Display>(char, &'a T);

impl<T: fmt::Display> fmt::Display for Line<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}\r\n", self.0, self.1)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

/// Writes the SDP text in RFC 8866 §5 field order, each line ending in CRLF.
impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=0\r\n")?;
        write!(f, "{}", Line('o', &self.origin))?;
        write!(f, "{}", Line('s', &self.session_name))?;
        if let Some(i) = &self.information {
            write!(f, "{}", Line('i', i))?;
        }
        if let Some(u) = &self.uri {
            write!(f, "{}", Line('u', u))?;
        }
        for e in &self.emails {
            write!(f, "{}", Line('e', e))?;
        }
        for p in &self.phones {
            write!(f, "{}", Line('p', p))?;
        }
        if let Some(c) = &self.connection {
            write!(f, "{}", Line('c', c))?;
        }
        for b in &self.bandwidths {
            write!(f, "{}", Line('b', b))?;
        }
        for t in &self.times {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "{}", Line('r', r))?;
            }
        }
        if let Some(z) = &self.time_zones {
            write!(f, "{}", Line('z', z))?;
        }
        if let Some(k) = &self.key {
            write!(f, "{}", Line('k', k))?;
        }
        for a in &self.attributes {
            write!(f, "{}", Line('a', a))?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

/// Writes the media section, from its `m=` line on, each line ending in CRLF.
impl fmt::Display for MediaDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.protocol)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.information {
            write!(f, "{}", Line('i', i))?;
        }
        for c in &self.connections {
            write!(f, "{}", Line('c', c))?;
        }
        for b in &self.bandwidths {
            write!(f, "{}", Line('b', b))?;
        }
        if let Some(k) = &self.key {
            write!(f, "{}", Line('k', k))?;
        }
        for a in &self.attributes {
            write!(f, "{}", Line('a', a))?;
        }
        Ok(())
    }
}
