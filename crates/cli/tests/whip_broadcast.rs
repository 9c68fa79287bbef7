//! WHIP ingest and WHEP egress of `ferrtc signal`, end to end on loopback:
//! a ferrtc `PeerConnection` publishes by WHIP (offer by `POST`, its
//! candidates by `PATCH`), ferrtc viewers watch by WHEP, and the frames the
//! publisher writes reach every viewer, each starting at a keyframe that
//! its joining asked the publisher for.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ferrtc::{
    Configuration, IceGatheringState, MediaKind, MediaStream, MediaStreamTrack, PeerConnection,
    PeerConnectionEvent, PeerConnectionEvents, RtpReceiverFrames, RtpSender, RtpSenderEvent,
    RtpTransceiverDirection, RtpTransceiverInit, SessionDescription,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(30);

/// Starts `ferrtc signal` on a free loopback port.
async fn server() -> (Child, SocketAddr) {
    start("signal").await
}

/// Starts `ferrtc COMMAND --listen 127.0.0.1:0` (`signal` or `demo`).
async fn start(command: &str) -> (Child, SocketAddr) {
    start_with(command, &[]).await
}

/// Starts `ferrtc COMMAND --listen 127.0.0.1:0 EXTRA...`.
async fn start_with(command: &str, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args([command, "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    (child, addr)
}

/// An HTTP/1.1 response: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client, one request per connection.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("a response in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A WHIP/WHEP session of a ferrtc client: its resource and its events.
struct Session {
    location: String,
    events: PeerConnectionEvents,
}

/// The frames of the first track `session` receives, once it comes.
async fn first_track(session: &mut Session) -> RtpReceiverFrames {
    loop {
        let event = tokio::time::timeout(WAIT, session.events.recv())
            .await
            .expect("a track in time")
            .unwrap();
        if let PeerConnectionEvent::Track(t) = event {
            return t.receiver.subscribe();
        }
    }
}

/// The client side of WHIP/WHEP (RFC 9725 §4.2, §4.3.1): the offer by
/// `POST`, the answer set, then the client's candidates by `PATCH`.
async fn open(addr: SocketAddr, endpoint: &str, pc: &PeerConnection) -> Result<Session, u16> {
    let mut events = pc.subscribe();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer.clone())).await.unwrap();
    let mut candidates = Vec::new();
    while let Some(event) = tokio::time::timeout(WAIT, events.recv()).await.unwrap() {
        match event {
            PeerConnectionEvent::IceCandidate(c) if !c.candidate.is_empty() => candidates.push(c),
            PeerConnectionEvent::IceGatheringStateChange(IceGatheringState::Complete) => break,
            _ => {}
        }
    }
    let created = http(
        addr,
        "POST",
        endpoint,
        &[("Content-Type", "application/sdp")],
        &offer.sdp,
    )
    .await;
    if created.status != 201 {
        return Err(created.status);
    }
    let location = created.header("location").unwrap().to_owned();
    let etag = created.header("etag").unwrap().to_owned();
    assert_eq!(created.header("content-type"), Some("application/sdp"));
    assert!(
        created.body.contains("a=candidate:"),
        "the answer has the server's candidates"
    );
    pc.set_remote_description(SessionDescription::answer(created.body))
        .await
        .unwrap();

    let ufrag = ferrtc_signal::whip::sdp_ice_ufrag(&offer.sdp).unwrap();
    let pwd = offer
        .sdp
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-pwd:"))
        .unwrap();
    let mut frag = format!(
        "a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
    );
    for c in &candidates {
        frag.push_str(&format!("a={}\r\n", c.candidate));
    }
    frag.push_str("a=end-of-candidates\r\n");
    let patched = http(
        addr,
        "PATCH",
        &location,
        &[
            ("Content-Type", "application/trickle-ice-sdpfrag"),
            ("If-Match", &etag),
        ],
        &frag,
    )
    .await;
    assert_eq!(patched.status, 204, "{}", patched.body);
    Ok(Session { location, events })
}

/// A VP8-shaped frame: the key bit of the frame tag (RFC 6386 §9.1), then
/// the frame's number.
fn vp8_frame(n: u32, key: bool) -> Vec<u8> {
    let mut f = vec![if key { 0x10 } else { 0x11 }];
    f.extend_from_slice(&n.to_be_bytes());
    f.resize(600, 0xab);
    f
}

/// The publisher's camera: a frame every 33 ms, a keyframe first and then
/// only when asked (so that every viewer's start proves that its request
/// went up). Counts the requests.
fn camera(sender: RtpSender, requests: Arc<AtomicU64>) {
    let wanted = Arc::new(AtomicBool::new(true));
    {
        let (sender, wanted) = (sender.clone(), wanted.clone());
        tokio::spawn(async move {
            while let Some(event) = sender.next_event().await {
                if event == RtpSenderEvent::KeyframeRequest {
                    requests.fetch_add(1, Ordering::Relaxed);
                    wanted.store(true, Ordering::Relaxed);
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(33));
        for n in 0u32.. {
            tick.tick().await;
            let key = wanted.load(Ordering::Relaxed);
            match sender.write_frame(vp8_frame(n, key), Duration::from_millis(33)) {
                Ok(()) if key => wanted.store(false, Ordering::Relaxed),
                Ok(()) => {}
                Err(ferrtc::Error::Closed) => break,
                Err(_) => {} // not connected yet
            }
        }
    });
}

/// A microphone: an Opus-sized frame every 20 ms.
fn microphone(sender: RtpSender) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if let Err(ferrtc::Error::Closed) =
                sender.write_frame(&[0x78; 80], Duration::from_millis(20))
            {
                break;
            }
        }
    });
}

/// A publisher's connection: a VP8 video track and an audio track.
async fn publisher() -> (PeerConnection, RtpSender, RtpSender) {
    let publisher = PeerConnection::new(Configuration::default()).unwrap();
    let stream = MediaStream::new();
    let video = publisher
        .add_track(
            &MediaStreamTrack::new(MediaKind::Video, "camera"),
            &[&stream],
        )
        .await
        .unwrap();
    let audio = publisher
        .add_track(&MediaStreamTrack::new(MediaKind::Audio, "mic"), &[&stream])
        .await
        .unwrap();
    for t in publisher.get_transceivers().await {
        if t.kind() == MediaKind::Video {
            let vp8: Vec<_> = RtpSender::get_capabilities(MediaKind::Video)
                .into_iter()
                .filter(|c| c.name.eq_ignore_ascii_case("VP8"))
                .collect();
            t.set_codec_preferences(vp8).await.unwrap();
        }
    }
    (publisher, video, audio)
}

/// What a viewer saw: the number of its first video frame, whether that
/// was a keyframe, how many video frames in order, and audio frames.
#[derive(Debug)]
struct Watched {
    first: u32,
    first_is_key: bool,
    video_frames: usize,
    audio_frames: usize,
}

/// Watches by WHEP until `frames` video frames arrived.
async fn watch(addr: SocketAddr, frames: usize) -> Watched {
    let pc = viewer(&[
        (MediaKind::Audio, RtpTransceiverDirection::RecvOnly),
        (MediaKind::Video, RtpTransceiverDirection::RecvOnly),
    ])
    .await;
    let mut session = open(addr, "/whep", &pc).await.expect("201 for a viewer");
    let mut video = None;
    let mut audio = None;
    while video.is_none() || audio.is_none() {
        let event = tokio::time::timeout(WAIT, session.events.recv())
            .await
            .expect("tracks in time")
            .unwrap();
        if let PeerConnectionEvent::Track(t) = event {
            match t.track.kind() {
                MediaKind::Video => video = Some(t.receiver.subscribe()),
                MediaKind::Audio => audio = Some(t.receiver.subscribe()),
            }
        }
    }
    let (mut video, mut audio) = (video.unwrap(), audio.unwrap());
    let audio_frames = Arc::new(AtomicU64::new(0));
    let counted = audio_frames.clone();
    let audio_task = tokio::spawn(async move {
        while audio.recv().await.is_some() {
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut seen: Vec<(u32, bool)> = Vec::new();
    while seen.len() < frames {
        let frame = tokio::time::timeout(WAIT, video.recv())
            .await
            .expect("video frames in time")
            .expect("the track goes on");
        let n = u32::from_be_bytes(frame.data[1..5].try_into().unwrap());
        seen.push((n, frame.data[0] == 0x10));
    }
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "frames in the publisher's order: {seen:?}"
    );
    audio_task.abort();
    let watched = Watched {
        first: seen[0].0,
        first_is_key: seen[0].1,
        video_frames: seen.len(),
        audio_frames: audio_frames.load(Ordering::Relaxed) as usize,
    };
    let _ = http(addr, "DELETE", &session.location, &[], "").await;
    pc.close().await;
    watched
}

#[tokio::test(flavor = "current_thread")]
async fn a_whip_publisher_reaches_three_whep_viewers_and_a_late_one_starts_at_a_keyframe() {
    let (_server, addr) = server().await;
    assert_eq!(
        http(
            addr,
            "POST",
            "/whep",
            &[("Content-Type", "application/sdp")],
            "v=0\r\n"
        )
        .await
        .status,
        404,
        "nobody publishes yet"
    );

    let (publisher, video, audio) = publisher().await;
    let published = open(addr, "/whip", &publisher)
        .await
        .expect("201 for the publisher");
    assert!(published.location.starts_with("/whip/"));
    let requests = Arc::new(AtomicU64::new(0));
    camera(video, requests.clone());
    microphone(audio);

    let second = PeerConnection::new(Configuration::default()).unwrap();
    second
        .add_track(
            &MediaStreamTrack::new(MediaKind::Video, "other"),
            &[&MediaStream::new()],
        )
        .await
        .unwrap();
    assert_eq!(
        open(addr, "/whip", &second).await.err(),
        Some(409),
        "one publisher at a time"
    );
    second.close().await;

    // Three viewers at once, each in its own task.
    let mut viewers = tokio::task::JoinSet::new();
    for _ in 0..3 {
        viewers.spawn(watch(addr, 30));
    }
    while let Some(watched) = viewers.join_next().await {
        let watched = watched.unwrap();
        assert!(
            watched.first_is_key,
            "a viewer starts at a keyframe: {watched:?}"
        );
        assert_eq!(watched.video_frames, 30);
        assert!(
            watched.audio_frames > 0,
            "audio is forwarded too: {watched:?}"
        );
    }

    // A late viewer: the publisher sends keyframes only when asked, so its
    // start is the keyframe its joining asked for.
    let before = requests.load(Ordering::Relaxed);
    let late = watch(addr, 10).await;
    assert!(late.first_is_key, "{late:?}");
    // The camera numbers a frame every 33 ms from its start, and the
    // others watched 30 (from frame 0 at the earliest): the late viewer's
    // first comes after those.
    assert!(late.first >= 30, "it joined late: {late:?}");
    assert!(
        requests.load(Ordering::Relaxed) > before,
        "its keyframe request went up to the publisher"
    );

    // The publisher leaves: nobody to watch any more.
    let deleted = http(addr, "DELETE", &published.location, &[], "").await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        http(addr, "DELETE", &published.location, &[], "")
            .await
            .status,
        404
    );
    publisher.close().await;
    let viewer = PeerConnection::new(Configuration::default()).unwrap();
    viewer
        .add_transceiver(
            MediaKind::Video,
            RtpTransceiverInit {
                direction: Some(RtpTransceiverDirection::RecvOnly),
                ..RtpTransceiverInit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(open(addr, "/whep", &viewer).await.err(), Some(404));
}

/// RFC 9725 §4.2: an offer the endpoint cannot take is refused with a
/// 4xx. A well-formed publisher offer that sends no audio or video (here:
/// a video section that only receives) is 422 Unprocessable Content (RFC
/// 9110 §15.5.21), not 400, which stays for SDP that does not parse.
#[tokio::test(flavor = "current_thread")]
async fn a_well_formed_publisher_offer_that_sends_no_media_is_422_and_junk_400() {
    let (_server, addr) = start("demo").await;
    let receiver = PeerConnection::new(Configuration::default()).unwrap();
    receiver
        .add_transceiver(
            MediaKind::Video,
            RtpTransceiverInit {
                direction: Some(RtpTransceiverDirection::RecvOnly),
                ..RtpTransceiverInit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(open(addr, "/whip", &receiver).await.err(), Some(422));
    receiver.close().await;
    let sdp = [("Content-Type", "application/sdp")];
    assert_eq!(http(addr, "POST", "/whip", &sdp, "hello").await.status, 400);
}

/// `offer` with its video sections' codecs replaced by H.265 and its
/// audio sections' by AMR-WB, neither of which ferrtc takes.
fn with_codecs_ferrtc_lacks(offer: &str) -> String {
    let mut out = String::new();
    // The section's new rtpmap, written after its `a=mid` (attributes
    // come after `c=`, RFC 8866 §5).
    let mut rtpmap = None;
    for line in offer.lines().map(str::trim_end) {
        if ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
            .iter()
            .any(|p| line.starts_with(p))
        {
            continue;
        }
        let proto: Vec<&str> = line.split(' ').take(3).collect();
        let line = match line.split_once(' ') {
            Some(("m=video", _)) => {
                rtpmap = Some("a=rtpmap:96 H265/90000");
                format!("{} 96", proto.join(" "))
            }
            Some(("m=audio", _)) => {
                rtpmap = Some("a=rtpmap:100 AMR-WB/16000");
                format!("{} 100", proto.join(" "))
            }
            _ => line.to_owned(),
        };
        out.push_str(&line);
        out.push_str("\r\n");
        if line.starts_with("a=mid:")
            && let Some(rtpmap) = rtpmap.take()
        {
            out.push_str(rtpmap);
            out.push_str("\r\n");
        }
    }
    out
}

/// RFC 9725 §4.2, RFC 9110 §15.5.21: a publisher offer that sends, but
/// only in codecs ferrtc cannot receive (H.265 video, AMR-WB audio), is
/// well-formed and cannot be served: 422, not a 201 whose sections are
/// all rejected. Nothing of it is left: the next publisher is let in.
#[tokio::test(flavor = "current_thread")]
async fn a_publisher_offer_only_in_codecs_ferrtc_lacks_is_422_and_takes_no_seat() {
    let (_server, addr) = server().await;
    let (unservable, _video, _audio) = publisher().await;
    let offer = unservable.create_offer().await.unwrap();
    let sdp = [("Content-Type", "application/sdp")];
    let refused = http(
        addr,
        "POST",
        "/whip",
        &sdp,
        &with_codecs_ferrtc_lacks(&offer.sdp),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.header("location"), None);
    unservable.close().await;
    let (next, _video, _audio) = publisher().await;
    assert!(
        open(addr, "/whip", &next).await.is_ok(),
        "the broadcast is free"
    );
    next.close().await;
}

#[tokio::test(flavor = "current_thread")]
async fn ferrtc_demo_serves_whip_and_whep_next_to_its_bot() {
    let (_server, addr) = start("demo").await;
    let sdp = [("Content-Type", "application/sdp")];
    // A media side is there: a viewer is told nobody publishes (without
    // one it would be 503), and a publisher's non-SDP offer is refused.
    assert_eq!(
        http(addr, "POST", "/whep", &sdp, "v=0\r\n").await.status,
        404
    );
    assert_eq!(http(addr, "POST", "/whip", &sdp, "hello").await.status, 400);
    let preflight = http(addr, "OPTIONS", "/whip", &[], "").await;
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("accept-post"), Some("application/sdp"));
}

/// `answer` with the ICE credentials and candidates of an answer fragment
/// (RFC 8840) in place of its own (the candidates in the first section).
fn apply_fragment(answer: &str, frag: &str) -> String {
    let find = |prefix: &str| {
        frag.lines()
            .map(str::trim_end)
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .to_owned()
    };
    let candidates: Vec<&str> = frag
        .lines()
        .map(str::trim_end)
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    let mut out = String::new();
    let mut sections = 0;
    let mut placed = false;
    for line in answer.lines().map(str::trim_end) {
        if line.starts_with("a=candidate:") || line == "a=end-of-candidates" {
            continue;
        }
        if line.starts_with("m=") {
            sections += 1;
            if sections == 2 {
                for c in &candidates {
                    out.push_str(&format!("{c}\r\n"));
                }
                out.push_str("a=end-of-candidates\r\n");
                placed = true;
            }
        }
        let line = if line.starts_with("a=ice-ufrag:") {
            find("a=ice-ufrag:")
        } else if line.starts_with("a=ice-pwd:") {
            find("a=ice-pwd:")
        } else {
            line.to_owned()
        };
        out.push_str(&format!("{line}\r\n"));
    }
    if !placed {
        for c in &candidates {
            out.push_str(&format!("{c}\r\n"));
        }
        out.push_str("a=end-of-candidates\r\n");
    }
    out
}

/// The connection's ICE side as its stats say: the local username
/// fragment, and the selected pair's remote candidate (`address:port`) and
/// connectivity check responses received, once a pair is selected.
async fn ice_of(pc: &PeerConnection) -> (String, Option<(String, u64)>) {
    let report = pc.get_stats().await.unwrap();
    let Some(ferrtc::Stats::Transport(transport)) = report.first_of_type("transport") else {
        panic!("no transport stats: {}", report.to_json());
    };
    let pair = transport
        .selected_candidate_pair_id
        .as_ref()
        .and_then(|id| {
            let Some(ferrtc::Stats::CandidatePair(pair)) = report.stats.get(id) else {
                return None;
            };
            let Some(ferrtc::Stats::RemoteCandidate(remote)) =
                report.stats.get(&pair.remote_candidate_id)
            else {
                return None;
            };
            let remote = format!("{}:{}", remote.address, remote.port);
            Some((remote, pair.responses_received))
        });
    (transport.ice_local_username_fragment.clone(), pair)
}

#[tokio::test(flavor = "current_thread")]
async fn an_ice_restart_by_patch_gives_new_server_credentials_and_the_broadcast_goes_on() {
    let (_server, addr) = server().await;
    let (publisher, video, _audio) = publisher().await;
    let published = open(addr, "/whip", &publisher).await.expect("201");
    camera(video, Arc::new(AtomicU64::new(0)));
    let first_answer = publisher.remote_description().await.unwrap().sdp;
    let mut before = ice_of(&publisher).await;
    for _ in 0..100 {
        if before.1.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        before = ice_of(&publisher).await;
    }
    let (old_local_ufrag, Some(_)) = before else {
        panic!("the publisher never selected a pair");
    };

    // RFC 9725 §4.3.2: new local credentials, sent as a fragment with
    // `If-Match: *`; the server's new ones come back.
    let mut events = publisher.subscribe();
    publisher.restart_ice().await.unwrap();
    let offer = publisher.create_offer().await.unwrap();
    publisher
        .set_local_description(Some(offer.clone()))
        .await
        .unwrap();
    let mut frag = String::new();
    for prefix in ["a=ice-ufrag:", "a=ice-pwd:"] {
        let line = offer.sdp.lines().find(|l| l.starts_with(prefix)).unwrap();
        frag.push_str(&format!("{}\r\n", line.trim_end()));
    }
    frag.push_str("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n");
    // The restarted agent gathers again; its candidates come once the offer
    // is set, in any order with its gathering states: a quiet half second
    // ends the wait.
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(500), events.recv()).await
    {
        if let PeerConnectionEvent::IceCandidate(c) = event
            && !c.candidate.is_empty()
        {
            frag.push_str(&format!("a={}\r\n", c.candidate));
        }
    }
    assert!(
        frag.contains("a=candidate:"),
        "the restart gathered: {frag} (offer {})",
        offer.sdp
    );
    frag.push_str("a=end-of-candidates\r\n");
    let responses_before = ice_of(&publisher).await.1.map_or(0, |(_, n)| n);
    let restarted = http(
        addr,
        "PATCH",
        &published.location,
        &[
            ("Content-Type", "application/trickle-ice-sdpfrag"),
            ("If-Match", "*"),
        ],
        &frag,
    )
    .await;
    assert_eq!(restarted.status, 200, "{}", restarted.body);
    assert_eq!(
        restarted.header("content-type"),
        Some("application/trickle-ice-sdpfrag")
    );
    let old_ufrag = ferrtc_signal::whip::sdp_ice_ufrag(&first_answer).unwrap();
    let new_ufrag = ferrtc_signal::whip::sdp_ice_ufrag(&restarted.body).unwrap();
    assert_ne!(
        new_ufrag, old_ufrag,
        "the server restarted with new credentials"
    );
    assert!(
        restarted.body.contains("a=candidate:"),
        "{}",
        restarted.body
    );
    publisher
        .set_remote_description(SessionDescription::answer(apply_fragment(
            &first_answer,
            &restarted.body,
        )))
        .await
        .unwrap();

    // The connection moved to the new credentials: its ufrag is the new
    // offer's, its selected pair's remote candidate is one the restart's
    // answer gave, and checks signed with the server's new password are
    // answered on it (RFC 8445 §9: the new ICE generation is checked).
    let new_local_ufrag = ferrtc_signal::whip::sdp_ice_ufrag(&offer.sdp).unwrap();
    assert_ne!(new_local_ufrag, old_local_ufrag);
    let restart_candidates: Vec<String> = restarted
        .body
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=candidate:"))
        .filter_map(|c| {
            let f: Vec<&str> = c.split(' ').collect();
            Some(format!("{}:{}", f.get(4)?, f.get(5)?))
        })
        .collect();
    let mut after = ice_of(&publisher).await;
    for _ in 0..200 {
        if after.0 == new_local_ufrag
            && after.1.as_ref().is_some_and(|(_, n)| *n > responses_before)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = ice_of(&publisher).await;
    }
    assert_eq!(
        after.0, new_local_ufrag,
        "the restart's credentials are used"
    );
    let (remote, responses) = after.1.expect("a pair selected after the restart");
    assert!(
        restart_candidates.contains(&remote),
        "the selected pair's remote {remote} is one of the restart's {restart_candidates:?}"
    );
    assert!(
        responses > responses_before,
        "checks of the new generation answered: {responses} after {responses_before}"
    );

    // The broadcast goes on over the restarted connection.
    let watched = watch(addr, 10).await;
    assert!(watched.first_is_key, "{watched:?}");
    assert_eq!(
        publisher.connection_state().await,
        ferrtc::PeerConnectionState::Connected
    );
}

/// A viewer's offer with its candidates, not sent.
async fn viewer_offer() -> (PeerConnection, String) {
    let pc = viewer(&[
        (MediaKind::Audio, RtpTransceiverDirection::RecvOnly),
        (MediaKind::Video, RtpTransceiverDirection::RecvOnly),
    ])
    .await;
    let mut events = pc.subscribe();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer)).await.unwrap();
    while let Some(event) = tokio::time::timeout(WAIT, events.recv()).await.unwrap() {
        if let PeerConnectionEvent::IceGatheringStateChange(IceGatheringState::Complete) = event {
            break;
        }
    }
    let sdp = pc.local_description().await.unwrap().sdp;
    (pc, sdp)
}

#[tokio::test(flavor = "current_thread")]
async fn a_viewer_offering_to_send_is_answered_sendonly_and_its_extra_sections_inactive() {
    let (_server, addr) = server().await;
    let (publisher, video, _audio) = publisher().await;
    let _published = open(addr, "/whip", &publisher).await.expect("201");
    camera(video, Arc::new(AtomicU64::new(0)));
    // Audio and video offered sendrecv, and a second video section: had
    // the answer let the viewer send, the server would hold what it sent,
    // unread, as long as the session lives.
    let sendrecv = RtpTransceiverDirection::SendRecv;
    let viewer = viewer(&[
        (MediaKind::Audio, sendrecv),
        (MediaKind::Video, sendrecv),
        (MediaKind::Video, sendrecv),
    ])
    .await;
    let offer = viewer.create_offer().await.unwrap();
    let answered = http(
        addr,
        "POST",
        "/whep",
        &[("Content-Type", "application/sdp")],
        &offer.sdp,
    )
    .await;
    assert_eq!(answered.status, 201, "{}", answered.body);
    let sections: Vec<&str> = answered.body.split("\r\nm=").skip(1).collect();
    assert_eq!(sections.len(), 3, "{}", answered.body);
    for broadcast in &sections[..2] {
        assert!(broadcast.contains("\r\na=sendonly"), "{broadcast}");
    }
    assert!(
        sections[2].contains("\r\na=inactive"),
        "the extra section carries nothing: {}",
        sections[2]
    );
    viewer.close().await;
    publisher.close().await;
}

/// A viewer whose sections have `directions`, in order: the video frames
/// it got (at most 10) once connected.
async fn video_frames_of_a_viewer(
    addr: SocketAddr,
    directions: &[(MediaKind, RtpTransceiverDirection)],
) -> usize {
    video_frames_of(addr, viewer(directions).await).await
}

/// A viewer's connection with one transceiver per section, in order.
async fn viewer(sections: &[(MediaKind, RtpTransceiverDirection)]) -> PeerConnection {
    let pc = PeerConnection::new(Configuration::default()).unwrap();
    for (kind, direction) in sections {
        let init = RtpTransceiverInit {
            direction: Some(*direction),
            ..RtpTransceiverInit::default()
        };
        pc.add_transceiver(*kind, init).await.unwrap();
    }
    pc
}

/// The video frames (at most 10) a viewer connection got once connected.
async fn video_frames_of(addr: SocketAddr, pc: PeerConnection) -> usize {
    let mut session = open(addr, "/whep", &pc).await.expect("201 for a viewer");
    let mut frames = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while frames < 10 {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, session.events.recv()).await else {
            break;
        };
        if let PeerConnectionEvent::Track(t) = event
            && t.track.kind() == MediaKind::Video
        {
            let mut video = t.receiver.subscribe();
            while frames < 10 {
                match tokio::time::timeout_at(deadline, video.recv()).await {
                    Ok(Some(_)) => frames += 1,
                    _ => break,
                }
            }
        }
    }
    let _ = http(addr, "DELETE", &session.location, &[], "").await;
    pc.close().await;
    frames
}

#[tokio::test(flavor = "current_thread")]
async fn a_viewer_gets_video_whatever_its_first_section_or_one_it_only_sends_on() {
    use RtpTransceiverDirection::{RecvOnly, SendOnly};
    let (_server, addr) = server().await;
    // A publisher of video alone.
    let (publisher, video, audio) = publisher().await;
    publisher.remove_track(&audio).await.unwrap();
    let published = open(addr, "/whip", &publisher).await.expect("201");
    camera(video, Arc::new(AtomicU64::new(0)));
    // The usual WHEP player: audio first (the BUNDLE tag, which the
    // answer may not refuse), though nobody publishes audio.
    let player = [(MediaKind::Audio, RecvOnly), (MediaKind::Video, RecvOnly)];
    assert_eq!(video_frames_of_a_viewer(addr, &player).await, 10);
    // A first video section the viewer only sends on: the broadcast goes
    // on the one it receives on.
    let sender_first = [
        (MediaKind::Video, SendOnly),
        (MediaKind::Audio, RecvOnly),
        (MediaKind::Video, RecvOnly),
    ];
    assert_eq!(video_frames_of_a_viewer(addr, &sender_first).await, 10);
    // A first video section without the publisher's codec (H.264 only):
    // it cannot carry the broadcast, which goes on the next, and it is
    // answered inactive, not refused (it is the BUNDLE tag).
    let pc = viewer(&[(MediaKind::Video, RecvOnly), (MediaKind::Video, RecvOnly)]).await;
    let h264: Vec<_> = RtpSender::get_capabilities(MediaKind::Video)
        .into_iter()
        .filter(|c| c.name.eq_ignore_ascii_case("H264"))
        .collect();
    pc.get_transceivers().await[0]
        .set_codec_preferences(h264)
        .await
        .unwrap();
    assert_eq!(video_frames_of(addr, pc).await, 10);
    let _ = http(addr, "DELETE", &published.location, &[], "").await;
    publisher.close().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_viewer_being_set_up_when_the_publisher_leaves_is_refused_or_ended_never_left_behind() {
    let (_server, addr) = server().await;
    for round in 0..6 {
        let (publisher, video, _audio) = publisher().await;
        let published = open(addr, "/whip", &publisher).await.expect("201");
        camera(video, Arc::new(AtomicU64::new(0)));
        let (viewer, offer) = viewer_offer().await;
        // The viewer's offer and the publisher's DELETE at once: the
        // viewer's answer is made while the publisher leaves.
        let sdp = [("Content-Type", "application/sdp")];
        // Which comes first varies with the round; the window where the
        // answer is being made is short, so not every run hits it, but no
        // run may leave a viewer behind.
        let (post_after, delete_after) = if round % 2 == 0 {
            (0, round / 2)
        } else {
            (round / 2, 0)
        };
        let (watched, deleted) = tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(post_after)).await;
                http(addr, "POST", "/whep", &sdp, &offer).await
            },
            async {
                tokio::time::sleep(Duration::from_millis(delete_after)).await;
                http(addr, "DELETE", &published.location, &[], "").await
            }
        );
        assert_eq!(deleted.status, 200);
        if watched.status == 201 {
            // Answered before the publisher left: ended with it.
            let location = watched.header("location").unwrap().to_owned();
            let frag = [("Content-Type", "application/trickle-ice-sdpfrag")];
            let mut status = 0;
            for _ in 0..100 {
                status = http(addr, "PATCH", &location, &frag, "a=end-of-candidates\r\n")
                    .await
                    .status;
                if status == 404 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(status, 404, "round {round}: the viewer was left behind");
        } else {
            assert_eq!(watched.status, 404, "round {round}: {}", watched.body);
        }
        viewer.close().await;
        publisher.close().await;
    }
}

/// The simulcast layers a publisher sends (RFC 8853), lowest first: rid
/// and frame size (at 30 frames a second: 48, 144 and 432 kbit/s).
const LAYERS: [(&str, usize); 3] = [("q", 200), ("h", 600), ("f", 1800)];

/// A layer's frame: VP8's key bit, the frame's number, its layer.
fn layer_frame(n: u32, layer: u8, key: bool, size: usize) -> Vec<u8> {
    let mut f = vp8_frame(n, key);
    f[5] = layer;
    f.resize(size, 0xcd);
    f
}

/// A simulcast camera: every 33 ms a frame of each layer, each layer's
/// first frame a keyframe and then only when that layer is asked (or
/// every layer is). Counts each layer's requests.
fn simulcast_camera(sender: RtpSender, requests: Arc<[AtomicU64; 3]>) {
    let wanted: Arc<[AtomicBool; 3]> = Arc::new(std::array::from_fn(|_| AtomicBool::new(true)));
    {
        let (sender, wanted) = (sender.clone(), wanted.clone());
        tokio::spawn(async move {
            while let Some(event) = sender.next_event().await {
                let layers: Vec<usize> = match event {
                    RtpSenderEvent::KeyframeRequest => vec![0, 1, 2],
                    RtpSenderEvent::LayerKeyframeRequest { rid } => LAYERS
                        .iter()
                        .position(|(r, _)| *r == rid)
                        .into_iter()
                        .collect(),
                    _ => Vec::new(),
                };
                for l in layers {
                    requests[l].fetch_add(1, Ordering::Relaxed);
                    wanted[l].store(true, Ordering::Relaxed);
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(33));
        for n in 0u32.. {
            tick.tick().await;
            for (l, (rid, size)) in LAYERS.iter().enumerate() {
                let key = wanted[l].load(Ordering::Relaxed);
                let frame = layer_frame(n, l as u8, key, *size);
                match sender.write_frame_for(rid, &frame, Duration::from_millis(33)) {
                    Ok(()) if key => wanted[l].store(false, Ordering::Relaxed),
                    Ok(()) => {}
                    Err(ferrtc::Error::Closed) => return,
                    Err(_) => {} // not connected yet
                }
            }
        }
    });
}

/// Watches the video of a simulcast broadcast by WHEP: each frame's
/// (number, layer, keyframe) for `frames` frames.
async fn watch_layers(addr: SocketAddr, frames: usize) -> Vec<(u32, u8, bool)> {
    let pc = viewer(&[(MediaKind::Video, RtpTransceiverDirection::RecvOnly)]).await;
    let mut session = open(addr, "/whep", &pc).await.expect("201 for a viewer");
    let mut video = first_track(&mut session).await;
    let mut seen = Vec::new();
    while seen.len() < frames {
        let frame = tokio::time::timeout(WAIT, video.recv())
            .await
            .expect("video frames in time")
            .expect("the track goes on");
        assert_eq!(frame.rid, None, "a viewer gets one stream, without rid");
        let n = u32::from_be_bytes(frame.data[1..5].try_into().unwrap());
        seen.push((n, frame.data[5], frame.data[0] == 0x10));
    }
    let _ = http(addr, "DELETE", &session.location, &[], "").await;
    pc.close().await;
    seen
}

#[tokio::test(flavor = "current_thread")]
async fn a_simulcast_publisher_reaches_each_viewer_as_one_layer_switched_only_at_keyframes() {
    let (_server, addr) = server().await;
    let publisher = PeerConnection::new(Configuration::default()).unwrap();
    let encodings = LAYERS
        .iter()
        .map(|(rid, _)| ferrtc::RtpEncodingParameters::with_rid(rid))
        .collect();
    let transceiver = publisher
        .add_transceiver(
            MediaKind::Video,
            RtpTransceiverInit {
                direction: Some(RtpTransceiverDirection::SendOnly),
                streams: vec![MediaStream::new()],
                send_encodings: encodings,
            },
        )
        .await
        .unwrap();
    let vp8: Vec<_> = RtpSender::get_capabilities(MediaKind::Video)
        .into_iter()
        .filter(|c| c.name.eq_ignore_ascii_case("VP8"))
        .collect();
    transceiver.set_codec_preferences(vp8).await.unwrap();
    let sender = transceiver.sender();
    sender
        .replace_track(Some(&MediaStreamTrack::new(MediaKind::Video, "camera")))
        .await
        .unwrap();
    let _published = open(addr, "/whip", &publisher)
        .await
        .expect("201 for the publisher");
    let requests = Arc::new(std::array::from_fn(|_| AtomicU64::new(0)));
    simulcast_camera(sender, requests.clone());
    // Let the forwarder measure the layers.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut viewers = tokio::task::JoinSet::new();
    for _ in 0..2 {
        viewers.spawn(watch_layers(addr, 90));
    }
    while let Some(seen) = viewers.join_next().await {
        let seen = seen.unwrap();
        assert!(seen[0].2, "a viewer starts at a keyframe: {seen:?}");
        for w in seen.windows(2) {
            let ((n0, l0, _), (n1, l1, key1)) = (w[0], w[1]);
            assert!(n1 > n0, "frames in order: {seen:?}");
            if l1 != l0 {
                assert!(key1, "a layer switch only at its keyframe: {seen:?}");
            }
        }
        // Each layer seen is one run: never two layers interleaved.
        let mut runs: Vec<u8> = seen.iter().map(|s| s.1).collect();
        runs.dedup();
        assert!(runs.len() <= 3, "no flapping between layers: {runs:?}");
        let last = seen.last().unwrap().1;
        assert_eq!(
            LAYERS[last as usize].0, "f",
            "a viewer on loopback ends on the top layer: {runs:?}"
        );
        let (n_last, _, _) = *seen.last().unwrap();
        let tail = seen.iter().filter(|s| s.1 == last).count();
        assert!(tail > 30, "and stays there ({tail} frames up to {n_last})");
    }
    let asked: Vec<u64> = requests.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    assert!(
        asked[2] > 0,
        "the top layer's keyframe was asked: {asked:?}"
    );
    publisher.close().await;
}

/// A session holds a seat from its `POST` until it connects: the server
/// lets one address have 8 unconnected at once (429 beyond), and a viewer
/// that connected no longer counts, so viewers who connect keep coming.
#[tokio::test(flavor = "current_thread")]
async fn viewers_that_connect_free_their_address_for_more_beyond_the_unconnected_limit() {
    let (_server, addr) = server().await;
    let (publisher, video, _audio) = publisher().await;
    let _published = open(addr, "/whip", &publisher).await.expect("201");
    camera(video, Arc::new(AtomicU64::new(0)));
    let mut viewers = Vec::new();
    for i in 0..9 {
        let mut session = None;
        for _ in 0..8 {
            let pc = viewer(&[(MediaKind::Video, RtpTransceiverDirection::RecvOnly)]).await;
            match open(addr, "/whep", &pc).await {
                Ok(s) => {
                    session = Some((pc, s));
                    break;
                }
                // The server may not have heard of the last connection yet.
                Err(429) => tokio::time::sleep(Duration::from_millis(250)).await,
                Err(status) => panic!("viewer {i}: {status}"),
            }
        }
        let (pc, mut session) = session.unwrap_or_else(|| panic!("viewer {i} kept getting 429"));
        loop {
            match tokio::time::timeout(WAIT, session.events.recv()).await {
                Ok(Some(PeerConnectionEvent::ConnectionStateChange(
                    ferrtc::PeerConnectionState::Connected,
                ))) => break,
                Ok(Some(_)) => {}
                other => panic!("viewer {i} did not connect: {other:?}"),
            }
        }
        viewers.push(pc);
    }
    for pc in viewers {
        pc.close().await;
    }
    publisher.close().await;
}

/// A publisher that closes its connection without a `DELETE` (a browser
/// tab closed) ends its session at its DTLS close_notify (W3C
/// `RTCDtlsTransport` `closed`): the next publisher is let in at once,
/// not answered 409 until ICE consent to the gone one runs out (30 s).
#[tokio::test(flavor = "current_thread")]
async fn a_publisher_that_closes_without_delete_frees_the_broadcast_at_once() {
    let (_server, addr) = server().await;
    let (first, _video, _audio) = publisher().await;
    let mut session = open(addr, "/whip", &first)
        .await
        .expect("201 for the first publisher");
    tokio::time::timeout(WAIT, async {
        while let Some(event) = session.events.recv().await {
            if let PeerConnectionEvent::ConnectionStateChange(
                ferrtc::PeerConnectionState::Connected,
            ) = event
            {
                return;
            }
        }
    })
    .await
    .expect("the first publisher connects");
    first.close().await;
    let started = tokio::time::Instant::now();
    let mut refused = Vec::new();
    loop {
        let (second, _video, _audio) = publisher().await;
        match open(addr, "/whip", &second).await {
            Ok(_) => break,
            Err(status) => refused.push(status),
        }
        second.close().await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the second publisher refused for 10 s: {refused:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A real implementation's offer from `fixtures/sdp` (workspace root).
fn fixture(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sdp/");
    std::fs::read_to_string(format!("{root}{path}")).unwrap()
}

/// RFC 9725 §4.2: the 422 for an offer ferrtc cannot receive must not
/// refuse a publisher that sends audio only, video only, in `sendrecv`
/// or `sendonly` sections, with a data channel, or simulcast: real
/// Chromium and aiortc offers are all answered 201.
#[tokio::test(flavor = "current_thread")]
async fn real_publisher_offers_of_chromium_and_aiortc_are_201() {
    let sdp = [("Content-Type", "application/sdp")];
    let offers = [
        "chromium-156/audio-offer.sdp",
        "chromium-156/video-offer.sdp",
        "chromium-156/av-dc-offer.sdp",
        "chromium-156/av-dc-offer-gathered.sdp",
        "chromium-156/simulcast-offer.sdp",
        "chromium-156/renegotiation-offer.sdp",
        "aiortc-1.16/audio-offer.sdp",
        "aiortc-1.16/video-offer.sdp",
        "aiortc-1.16/av-dc-offer.sdp",
    ];
    let mut failures = Vec::new();
    for name in offers {
        let offer = fixture(name);
        for (how, offer) in [
            ("sendrecv", offer.clone()),
            ("sendonly", offer.replace("a=sendrecv", "a=sendonly")),
        ] {
            let (_server, addr) = server().await;
            let created = http(addr, "POST", "/whip", &sdp, &offer).await;
            if created.status != 201 {
                failures.push(format!(
                    "{name} ({how}): {} {}",
                    created.status, created.body
                ));
            }
        }
    }
    for name in [
        "chromium-156/recvonly-offer.sdp",
        "chromium-156/datachannel-offer.sdp",
    ] {
        let (_server, addr) = server().await;
        let refused = http(addr, "POST", "/whip", &sdp, &fixture(name)).await;
        if refused.status != 422 {
            failures.push(format!(
                "{name}: {} (want 422) {}",
                refused.status, refused.body
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `offer` with the codecs of its `kind` sections (`m=audio`, `m=video`)
/// replaced by the one `rtpmap` (payload type `pt`).
fn with_section_codec(offer: &str, kind: &str, pt: u8, rtpmap: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in offer.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            inside = line.starts_with(&format!("m={kind} "));
            if inside {
                let head: Vec<&str> = line.split(' ').take(3).collect();
                out.push_str(&format!("{} {pt}\r\n", head.join(" ")));
                continue;
            }
        }
        if inside
            && [
                "a=rtpmap:",
                "a=fmtp:",
                "a=rtcp-fb:",
                "a=ssrc",
                "a=rid:",
                "a=simulcast:",
            ]
            .iter()
            .any(|p| line.starts_with(p))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
        if inside && line.starts_with("a=mid:") {
            out.push_str(&format!("a=rtpmap:{pt} {rtpmap}\r\n"));
        }
    }
    out
}

/// A publisher offer one of whose sections ferrtc cannot receive (H.265
/// video, or AMR-WB audio in the first section, the BUNDLE tag) still
/// sends in the other: 201, the other section received (RFC 8829 §5.3.1
/// rejects only the section without a codec in common).
#[tokio::test(flavor = "current_thread")]
async fn a_publisher_with_one_unreceivable_section_is_201() {
    let sdp = [("Content-Type", "application/sdp")];
    let av = fixture("chromium-156/av-dc-offer.sdp").replace("a=sendrecv", "a=sendonly");
    let mut failures = Vec::new();
    for (what, offer) in [
        (
            "H.265 video",
            with_section_codec(&av, "video", 96, "H265/90000"),
        ),
        (
            "AMR-WB audio (BUNDLE tag)",
            with_section_codec(&av, "audio", 63, "AMR-WB/16000"),
        ),
    ] {
        let (_server, addr) = server().await;
        let created = http(addr, "POST", "/whip", &sdp, &offer).await;
        if created.status != 201 {
            failures.push(format!(
                "{what}: {} {}\n{offer}",
                created.status, created.body
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// RFC 4733 telephone events are no media of their own: a publisher offer
/// whose audio carries only `telephone-event` (RFC 4733 §7.1.1), and
/// which has no video ferrtc can receive, has nothing to broadcast: 422
/// (RFC 9725 §4.2, RFC 9110 §15.5.21) as any offer ferrtc cannot
/// receive, not a 201 for a track of DTMF events alone.
#[tokio::test(flavor = "current_thread")]
async fn a_publisher_offer_whose_only_audio_codec_is_telephone_event_is_422() {
    let sdp = [("Content-Type", "application/sdp")];
    let audio = fixture("chromium-156/audio-offer.sdp").replace("a=sendrecv", "a=sendonly");
    let av = fixture("chromium-156/av-dc-offer.sdp").replace("a=sendrecv", "a=sendonly");
    let events_only = |offer: &str| with_section_codec(offer, "audio", 126, "telephone-event/8000");
    let mut failures = Vec::new();
    for (what, offer) in [
        ("audio only", events_only(&audio)),
        (
            "with H.265 video",
            with_section_codec(&events_only(&av), "video", 96, "H265/90000"),
        ),
    ] {
        let (_server, addr) = server().await;
        let refused = http(addr, "POST", "/whip", &sdp, &offer).await;
        if refused.status != 422 {
            failures.push(format!("{what}: {} (want 422)", refused.status));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The audio codec of an answer's first audio section: its first
/// `a=rtpmap` encoding name.
fn first_audio_codec(answer: &str) -> Option<String> {
    let audio = answer.split("m=audio").nth(1)?;
    let rtpmap = audio.lines().find_map(|l| l.strip_prefix("a=rtpmap:"))?;
    let encoding = rtpmap.split(' ').nth(1)?;
    Some(encoding.split('/').next()?.to_owned())
}

/// A publisher whose audio lists `telephone-event` before Opus: its
/// track's audio is Opus, which a viewer gets; `telephone-event` (RFC 4733)
/// is not the broadcast's codec, so a viewer whose audio section takes
/// only that has nothing it can receive (422), and one that takes Opus
/// is answered in Opus.
#[tokio::test(flavor = "current_thread")]
async fn a_viewer_gets_the_publishers_audio_codec_not_its_telephone_events() {
    let (_server, addr) = server().await;
    let sdp = [("Content-Type", "application/sdp")];
    let audio = fixture("chromium-156/audio-offer.sdp");
    let published = audio
        .replace("111 63 9 0 8 13 110 126", "126 111")
        .replace("a=sendrecv", "a=sendonly");
    let created = http(addr, "POST", "/whip", &sdp, &published).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let viewing = audio.replace("a=sendrecv", "a=recvonly");
    let events_only = with_section_codec(&viewing, "audio", 126, "telephone-event/8000");
    let refused = http(addr, "POST", "/whep", &sdp, &events_only).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let answered = http(addr, "POST", "/whep", &sdp, &viewing).await;
    assert_eq!(answered.status, 201, "{}", answered.body);
    assert_eq!(
        first_audio_codec(&answered.body).as_deref(),
        Some("opus"),
        "{}",
        answered.body
    );
}

/// A publisher whose audio section lists `telephone-event` (RFC 4733)
/// before Opus: the server times its Opus frames by Opus's 48 kHz clock,
/// not telephone-event's 8 kHz, so a viewer gets them 20 ms (960 ticks)
/// apart, as they were sent (RFC 3550 §5.1: the timestamp runs at the
/// payload format's clock).
#[tokio::test(flavor = "current_thread")]
async fn a_publisher_listing_telephone_event_first_reaches_viewers_at_its_audio_clock() {
    let (_server, addr) = server().await;
    let (publisher, _video, audio) = publisher().await;
    for t in publisher.get_transceivers().await {
        if t.kind() == MediaKind::Audio {
            let (mut events, others): (Vec<_>, Vec<_>) =
                RtpSender::get_capabilities(MediaKind::Audio)
                    .into_iter()
                    .partition(|c| c.is_telephone_event() && c.clock_rate == 8000);
            events.extend(others);
            t.set_codec_preferences(events).await.unwrap();
        }
    }
    let _published = open(addr, "/whip", &publisher).await.expect("201");
    microphone(audio);
    let pc = viewer(&[(MediaKind::Audio, RtpTransceiverDirection::RecvOnly)]).await;
    let mut session = open(addr, "/whep", &pc).await.expect("201 for a viewer");
    let mut frames = first_track(&mut session).await;
    let mut timestamps = Vec::new();
    while timestamps.len() < 20 {
        let frame = tokio::time::timeout(WAIT, frames.recv())
            .await
            .expect("audio frames in time")
            .expect("the track goes on");
        timestamps.push(frame.rtp_timestamp);
    }
    let steps: Vec<u32> = timestamps
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .collect();
    let at_20_ms = steps.iter().filter(|s| **s == 960).count();
    assert!(at_20_ms * 2 > steps.len(), "RTP timestamp steps: {steps:?}");
    pc.close().await;
    publisher.close().await;
}

/// With `--secret`, `POST /whip` and `POST /whep` need `Authorization:
/// Bearer` (RFC 9725 §4.5): without one, or with a token not signed by the
/// secret, 401 with `WWW-Authenticate: Bearer`; a publish token signed by
/// the secret is answered 201.
#[tokio::test(flavor = "current_thread")]
async fn with_secret_whip_and_whep_need_a_bearer_token_signed_by_it() {
    let secret = "s3cret";
    let (_server, addr) = start_with("signal", &["--secret", secret]).await;
    let (publisher, _video, _audio) = publisher().await;
    let offer = publisher.create_offer().await.unwrap();
    let sdp = ("Content-Type", "application/sdp");
    for endpoint in ["/whip", "/whep"] {
        let missing = http(addr, "POST", endpoint, &[sdp], &offer.sdp).await;
        assert_eq!(missing.status, 401, "{endpoint}");
        assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    }
    let expiry = ferrtc_signal::token::unix_now() + 600;
    let token = |key: &[u8]| {
        ferrtc_signal::token::mint_whip(key, ferrtc_signal::whip::SessionKind::Publish, expiry)
    };
    let forged = format!("Bearer {}", token(b"not the secret"));
    let refused = http(
        addr,
        "POST",
        "/whip",
        &[sdp, ("Authorization", &forged)],
        &offer.sdp,
    )
    .await;
    assert_eq!(refused.status, 401);
    let bearer = format!("Bearer {}", token(secret.as_bytes()));
    let created = http(
        addr,
        "POST",
        "/whip",
        &[sdp, ("Authorization", &bearer)],
        &offer.sdp,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.header("location").is_some());
    publisher.close().await;
}
