//! Writing offer and answer m-sections (RFC 8829 §5.2 and §5.3).

use ferrtc_sdp::{
    Attribute, Connection, Direction, Extmap, Fingerprint, Group, IceOption, MediaDescription,
    MediaKind, Msid, Origin, Rid, RidDirection, Rtcp, Sctpmap, SessionDescription as Sdp, Setup,
    Simulcast, SimulcastRid, SimulcastStreams, Ssrc, SsrcGroup, SsrcGroupSemantics, Timing,
};

use crate::codec::Codec;
use crate::config::IceCredentials;
use crate::transceiver::{HeaderExtension, Transceiver};

/// RTP profile JSEP uses for media (RFC 8829 §5.1.2).
pub(crate) const RTP_PROTOCOL: &str = "UDP/TLS/RTP/SAVPF";
/// SCTP-over-DTLS protocol for data (RFC 8841 §4).
pub(crate) const SCTP_PROTOCOL: &str = "UDP/DTLS/SCTP";
/// The data channel format (RFC 8841 §4.1).
pub(crate) const DATA_FORMAT: &str = "webrtc-datachannel";
/// Placeholder port before candidates are known (RFC 8829 §5.2.1).
pub(crate) const DISCARD_PORT: u16 = 9;

/// The transport attributes every accepted m-section carries.
pub(crate) struct Transport<'a> {
    pub ice: &'a IceCredentials,
    pub ice_options: &'a [IceOption],
    pub fingerprints: &'a [Fingerprint],
    pub setup: Setup,
}

/// Session-level part of a description (RFC 8829 §5.2.1).
pub(crate) fn session(
    session_id: u64,
    version: u64,
    bundle: Option<Vec<String>>,
    mixed: bool,
    identity: Option<&str>,
) -> Sdp {
    let mut attributes = Vec::new();
    // RFC 8827 §5.6.4.1: `a=identity` is a session-level attribute.
    if let Some(assertion) = identity {
        attributes.push(Attribute::Identity(assertion.to_owned()));
    }
    if let Some(mids) = bundle {
        attributes.push(Attribute::Group(Group {
            semantics: Group::BUNDLE.into(),
            mids,
        }));
    }
    if mixed {
        attributes.push(Attribute::ExtmapAllowMixed);
    }
    Sdp {
        origin: Origin {
            username: "-".into(),
            session_id: session_id.to_string(),
            session_version: version,
            net_type: "IN".into(),
            addr_type: "IP4".into(),
            address: "127.0.0.1".into(),
        },
        session_name: "-".into(),
        information: None,
        uri: None,
        emails: Vec::new(),
        phones: Vec::new(),
        connection: None,
        bandwidths: Vec::new(),
        times: vec![Timing {
            start: 0,
            stop: 0,
            repeats: Vec::new(),
        }],
        time_zones: None,
        key: None,
        attributes,
        media: Vec::new(),
    }
}

fn transport_attributes(out: &mut Vec<Attribute>, t: &Transport<'_>, mid: &str) {
    out.push(Attribute::IceUfrag(t.ice.ufrag.clone()));
    out.push(Attribute::IcePwd(t.ice.pwd.clone()));
    if !t.ice_options.is_empty() {
        out.push(Attribute::IceOptions(t.ice_options.to_vec()));
    }
    out.extend(t.fingerprints.iter().cloned().map(Attribute::Fingerprint));
    out.push(Attribute::Setup(t.setup));
    out.push(Attribute::Mid(mid.to_owned()));
}

/// A rejected (port 0) m-section (RFC 8829 §5.2.2, §5.3.1).
pub(crate) fn rejected(
    kind: MediaKind,
    protocol: &str,
    formats: Vec<String>,
    mid: Option<&str>,
) -> MediaDescription {
    let formats = if formats.is_empty() {
        vec![if protocol.contains("SCTP") {
            DATA_FORMAT.into()
        } else {
            "0".into()
        }]
    } else {
        formats
    };
    let mut m = MediaDescription::new(kind, 0, protocol, formats);
    m.connections.push(Connection::unspecified_ipv4());
    if let Some(mid) = mid {
        m.attributes.push(Attribute::Mid(mid.to_owned()));
    }
    if m.is_rtp() {
        m.attributes.push(Attribute::Direction(Direction::Inactive));
    }
    m
}

/// The RTP parts of one m-section.
pub(crate) struct RtpSection<'a> {
    pub mid: &'a str,
    pub direction: Direction,
    pub codecs: &'a [Codec],
    pub extensions: &'a [HeaderExtension],
    pub rids: Vec<Rid>,
    pub simulcast: Option<Simulcast>,
    pub rtcp_mux: bool,
    pub rtcp_rsize: bool,
    pub bundle_only: bool,
}

/// An RTP m-section for a transceiver, attributes in the order browsers write them.
pub(crate) fn rtp(
    t: &Transceiver,
    s: RtpSection<'_>,
    transport: &Transport<'_>,
    cname: &str,
) -> MediaDescription {
    let formats = s
        .codecs
        .iter()
        .map(|c| c.payload_type.to_string())
        .collect();
    let port = if s.bundle_only { 0 } else { DISCARD_PORT };
    let mut m = MediaDescription::new(t.kind().clone(), port, RTP_PROTOCOL, formats);
    m.connections.push(Connection::unspecified_ipv4());
    let a = &mut m.attributes;
    a.push(Attribute::Rtcp(Rtcp {
        port: DISCARD_PORT,
        address: Some("IN IP4 0.0.0.0".into()),
    }));
    transport_attributes(a, transport, s.mid);
    if s.bundle_only {
        a.push(Attribute::BundleOnly);
    }
    for e in s.extensions {
        a.push(Attribute::Extmap(Extmap {
            id: e.id,
            direction: None,
            uri: e.uri.clone(),
            attributes: None,
        }));
    }
    a.push(Attribute::Direction(s.direction));
    let init = t.init();
    let sending = s.direction.sends();
    if sending && let Some(track) = &init.track_id {
        let streams: Vec<&str> = if init.stream_ids.is_empty() {
            vec!["-"]
        } else {
            init.stream_ids.iter().map(String::as_str).collect()
        };
        for stream in streams {
            a.push(Attribute::Msid(Msid {
                stream_id: stream.to_owned(),
                track_id: Some(track.clone()),
            }));
        }
    }
    if s.rtcp_mux {
        a.push(Attribute::RtcpMux);
    }
    if s.rtcp_rsize {
        a.push(Attribute::RtcpRsize);
    }
    for c in s.codecs {
        c.write_attributes(a);
    }
    let has_rids = !s.rids.is_empty();
    a.extend(s.rids.into_iter().map(Attribute::Rid));
    if let Some(sim) = s.simulcast {
        a.push(Attribute::Simulcast(sim));
    }
    if sending
        && !has_rids
        && let Some(ssrc) = init.ssrc
    {
        let has_rtx = s.codecs.iter().any(Codec::is_rtx);
        let rtx = init.rtx_ssrc.filter(|_| has_rtx);
        if let Some(rtx) = rtx {
            a.push(Attribute::SsrcGroup(SsrcGroup {
                semantics: SsrcGroupSemantics::Fid,
                ssrcs: vec![ssrc, rtx],
            }));
        }
        for s in std::iter::once(ssrc).chain(rtx) {
            a.push(Attribute::Ssrc(Ssrc {
                ssrc: s,
                attribute: "cname".into(),
                value: Some(cname.to_owned()),
            }));
        }
    }
    m
}

/// Offer-side `a=rid` + `a=simulcast` for the send encodings (RFC 8853 §5.2).
pub(crate) fn send_simulcast(rids: &[String]) -> (Vec<Rid>, Option<Simulcast>) {
    simulcast(rids, RidDirection::Send)
}

/// `a=rid` lines and the matching `a=simulcast` for one direction.
pub(crate) fn simulcast(rids: &[String], direction: RidDirection) -> (Vec<Rid>, Option<Simulcast>) {
    if rids.is_empty() {
        return (Vec::new(), None);
    }
    let lines = rids
        .iter()
        .map(|id| Rid {
            id: id.clone(),
            direction,
            payload_types: Vec::new(),
            restrictions: Vec::new(),
        })
        .collect();
    let sim = Simulcast {
        directions: vec![SimulcastStreams {
            direction,
            streams: rids
                .iter()
                .map(|id| {
                    vec![SimulcastRid {
                        id: id.clone(),
                        paused: false,
                    }]
                })
                .collect(),
        }],
    };
    (lines, Some(sim))
}

/// A data-channel m-section (RFC 8841 §4, §5, §6), or its legacy
/// `DTLS/SCTP <port>` + `a=sctpmap` form when answering such an offer.
pub(crate) fn data(
    mid: &str,
    protocol: &str,
    legacy_formats: Option<Vec<String>>,
    sctp_port: u16,
    max_message_size: u64,
    bundle_only: bool,
    transport: &Transport<'_>,
) -> MediaDescription {
    let port = if bundle_only { 0 } else { DISCARD_PORT };
    let formats = legacy_formats
        .clone()
        .unwrap_or_else(|| vec![DATA_FORMAT.into()]);
    let mut m = MediaDescription::new(MediaKind::Application, port, protocol, formats);
    m.connections.push(Connection::unspecified_ipv4());
    transport_attributes(&mut m.attributes, transport, mid);
    if bundle_only {
        m.attributes.push(Attribute::BundleOnly);
    }
    if legacy_formats.is_some() {
        m.attributes.push(Attribute::Sctpmap(Sctpmap {
            port: sctp_port,
            protocol: DATA_FORMAT.into(),
            streams: Some(1024),
        }));
    } else {
        m.attributes.push(Attribute::SctpPort(sctp_port));
    }
    m.attributes
        .push(Attribute::MaxMessageSize(max_message_size));
    m
}
