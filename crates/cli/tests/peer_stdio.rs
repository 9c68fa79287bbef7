//! `ferrtc peer --signal stdio --echo` driven over its stdin/stdout by an
//! in-process `ferrtc::PeerConnection`, in both roles.

mod common;

use std::time::Duration;

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage,
    IceCandidateInit, PeerConnection, PeerConnectionEvent, SessionDescription,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

const TIMEOUT: Duration = Duration::from_secs(20);

/// The child and a line writer to its stdin (an empty string closes stdin).
struct Peer {
    child: Child,
    lines: mpsc::UnboundedSender<String>,
}

fn spawn(args: &[&str]) -> (Peer, tokio::process::ChildStdout) {
    let (child, stdout, tx) = common::spawn_ferrtc(args);
    (Peer { child, lines: tx }, stdout)
}

fn line(v: &Value) -> String {
    format!("{v}\n")
}

/// Applies the child's signaling lines to `pc` and writes `pc`'s
/// candidates (and its answer, when the child offers) to the child.
fn relay(
    pc: PeerConnection,
    to_child: mpsc::UnboundedSender<String>,
    stdout: tokio::process::ChildStdout,
    channels: mpsc::UnboundedSender<DataChannel>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        loop {
            tokio::select! {
                l = lines.next_line() => {
                    let Ok(Some(l)) = l else { break };
                    let v: Value = serde_json::from_str(&l).expect("stdout carries JSON lines only");
                    match v["type"].as_str() {
                        Some("offer") => {
                            pc.set_remote_description(SessionDescription::offer(v["sdp"].as_str().unwrap())).await.unwrap();
                            let answer = pc.create_answer().await.unwrap();
                            pc.set_local_description(Some(answer.clone())).await.unwrap();
                            let _ = to_child.send(line(&json!({"type":"answer","sdp":answer.sdp})));
                        }
                        Some("answer") => {
                            pc.set_remote_description(SessionDescription::answer(v["sdp"].as_str().unwrap())).await.unwrap();
                        }
                        Some("candidate") => {
                            let c: IceCandidateInit = serde_json::from_value(v).unwrap();
                            pc.add_ice_candidate(c).await.unwrap();
                        }
                        other => panic!("unexpected line type {other:?}"),
                    }
                }
                ev = pc.next_event() => match ev {
                    Some(PeerConnectionEvent::IceCandidate(c)) => {
                        let mut v = serde_json::to_value(&c).unwrap();
                        v["type"] = json!("candidate");
                        let _ = to_child.send(line(&v));
                    }
                    Some(PeerConnectionEvent::DataChannel(dc)) => { let _ = channels.send(dc); }
                    Some(_) => {}
                    None => break,
                }
            }
        }
    });
}

async fn next_message(dc: &DataChannel) -> DataChannelMessage {
    loop {
        match tokio::time::timeout(TIMEOUT, dc.recv()).await {
            Ok(Some(DataChannelEvent::Message(m))) => return std::sync::Arc::unwrap_or_clone(m),
            Ok(Some(_)) => continue,
            other => panic!("no message: {other:?}"),
        }
    }
}

async fn echo_round_trip(dc: &DataChannel) {
    let big: Vec<u8> = (0..65_536u32).map(|i| (i * 7) as u8).collect();
    dc.send_text("ping").await.unwrap();
    dc.send_binary(&big).await.unwrap();
    dc.send_text("").await.unwrap();
    dc.send_binary(&[9]).await.unwrap();
    assert_eq!(
        next_message(dc).await,
        DataChannelMessage::Text("ping".into())
    );
    assert_eq!(next_message(dc).await, DataChannelMessage::Binary(big));
    assert_eq!(
        next_message(dc).await,
        DataChannelMessage::Text(String::new())
    );
    assert_eq!(next_message(dc).await, DataChannelMessage::Binary(vec![9]));
}

async fn finish(mut peer: Peer, how: Option<&str>) -> String {
    match how {
        Some(l) => peer.lines.send(l.to_owned()).unwrap(),
        None => peer.lines.send(String::new()).unwrap(),
    }
    let status = tokio::time::timeout(TIMEOUT, peer.child.wait())
        .await
        .expect("ferrtc peer exits")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let mut stderr = String::new();
    peer.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    stderr
}

/// A client offering one data channel "data": its connection, the
/// channel and its offer, set as its local description.
async fn offering_client() -> (PeerConnection, DataChannel, SessionDescription) {
    let pc = PeerConnection::new(Configuration::default()).unwrap();
    let dc = pc
        .create_data_channel("data", DataChannelInit::default())
        .await
        .unwrap();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer.clone())).await.unwrap();
    (pc, dc, offer)
}

/// Relays between the client `pc` and the peer, waits for `dc` to open,
/// checks the echo, ends the peer with `bye`: its stderr.
async fn echoes_then_bye(
    pc: &PeerConnection,
    dc: &DataChannel,
    peer: Peer,
    stdout: tokio::process::ChildStdout,
) -> String {
    let (tx, _rx) = mpsc::unbounded_channel();
    relay(pc.clone(), peer.lines.clone(), stdout, tx);
    tokio::time::timeout(TIMEOUT, dc.wait_open())
        .await
        .expect("open in time")
        .unwrap();
    echo_round_trip(dc).await;
    finish(peer, Some("{\"type\":\"bye\"}\n")).await
}

#[tokio::test(flavor = "current_thread")]
async fn answering_peer_echoes_each_message_with_its_type_and_exits_on_bye() {
    let (peer, stdout) = spawn(&["peer", "--signal", "stdio", "--echo"]);
    let (pc, dc, offer) = offering_client().await;
    // A bad line first: one error on stderr, and the session goes on.
    peer.lines.send("this is not json\n".into()).unwrap();
    peer.lines
        .send(line(&json!({"type":"offer","sdp":offer.sdp})))
        .unwrap();
    let stderr = echoes_then_bye(&pc, &dc, peer, stdout).await;
    assert_eq!(
        stderr.matches("skipped signaling line").count(),
        1,
        "{stderr}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn offering_peer_creates_the_named_channels_and_exits_at_end_of_input() {
    let (peer, stdout) = spawn(&[
        "peer",
        "--signal",
        "stdio",
        "--offer",
        "--channel",
        "one",
        "--channel",
        "two",
        "--echo",
    ]);
    let pc = PeerConnection::new(Configuration::default()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    relay(pc.clone(), peer.lines.clone(), stdout, tx);
    let mut labels = Vec::new();
    for _ in 0..2 {
        let dc = tokio::time::timeout(TIMEOUT, rx.recv())
            .await
            .expect("channel in time")
            .unwrap();
        labels.push(dc.label().to_owned());
        echo_round_trip(&dc).await;
    }
    labels.sort();
    assert_eq!(labels, ["one", "two"]);
    let stderr = finish(peer, None).await;
    assert!(!stderr.contains("skipped"), "{stderr}");
}

/// A peer started with `--offer` answers a later offer of the other side
/// (a renegotiation, here a section added): in `stable` an offer fits the
/// signaling state (W3C webrtc-pc §4.4.1.5, RFC 9429 §3.2), so it is not a
/// line to skip; the connection and its channel go on.
#[tokio::test(flavor = "current_thread")]
async fn offering_peer_answers_a_renegotiation_offer_of_the_other_side() {
    let (peer, stdout) = spawn(&["peer", "--signal", "stdio", "--offer", "--echo"]);
    let (pc, dc) = answer_and_echo(&peer, stdout).await;
    // The answering side adds a section to receive audio: its new offer
    // goes to the child, whose answer `relay` applies.
    let init = ferrtc::RtpTransceiverInit {
        direction: Some(ferrtc::RtpTransceiverDirection::RecvOnly),
        ..Default::default()
    };
    pc.add_transceiver(ferrtc::MediaKind::Audio, init)
        .await
        .unwrap();
    offer_to(&peer, &pc).await;
    wait_stable(&pc).await;
    echo_round_trip(&dc).await;
    let stderr = finish(peer, Some("{\"type\":\"bye\"}\n")).await;
    assert!(!stderr.contains("skipped"), "{stderr}");
}

/// The test side of an `--offer --echo` child: answers its offer through
/// `relay`, takes its channel and checks one echo.
async fn answer_and_echo(
    peer: &Peer,
    stdout: tokio::process::ChildStdout,
) -> (PeerConnection, DataChannel) {
    let pc = PeerConnection::new(Configuration::default()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    relay(pc.clone(), peer.lines.clone(), stdout, tx);
    let dc = tokio::time::timeout(TIMEOUT, rx.recv())
        .await
        .expect("channel in time")
        .unwrap();
    echo_round_trip(&dc).await;
    (pc, dc)
}

/// `pc` offers again (a renegotiation) to the child.
async fn offer_to(peer: &Peer, pc: &PeerConnection) {
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer.clone())).await.unwrap();
    peer.lines
        .send(line(&json!({"type":"offer","sdp":offer.sdp})))
        .unwrap();
}

/// Until the child's answer made `pc` stable again.
async fn wait_stable(pc: &PeerConnection) {
    tokio::time::timeout(TIMEOUT, async {
        while pc.signaling_state().await != ferrtc::SignalingState::Stable {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the child answers");
}

/// The other side restarts ICE twice (two renegotiations in a row) with
/// an `--offer` peer: each answer carries new credentials and the channel
/// goes on.
#[tokio::test(flavor = "current_thread")]
async fn offering_peer_answers_two_ice_restarts_of_the_other_side() {
    let (peer, stdout) = spawn(&["peer", "--signal", "stdio", "--offer", "--echo"]);
    let (pc, dc) = answer_and_echo(&peer, stdout).await;
    let mut ufrags = vec![];
    for _ in 0..2 {
        pc.restart_ice().await.unwrap();
        offer_to(&peer, &pc).await;
        wait_stable(&pc).await;
        let remote = pc.remote_description().await.unwrap().sdp;
        ufrags.push(
            remote
                .lines()
                .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
                .unwrap()
                .to_owned(),
        );
        echo_round_trip(&dc).await;
    }
    assert_ne!(ufrags[0], ufrags[1]);
    let stderr = finish(peer, Some("{\"type\":\"bye\"}\n")).await;
    // (`relay` may pass the restart's candidates on before the test writes
    // its offer: those skips are the harness's, not the peer's.)
    assert!(!stderr.contains("got an offer"), "{stderr}");
}

/// An offer of the other side that arrives while the `--offer` peer's own
/// offer waits (glare): one error line, skipped; the answer that follows
/// completes the exchange.
#[tokio::test(flavor = "current_thread")]
async fn offering_peer_skips_an_offer_before_its_answer_with_one_error_line() {
    let (peer, stdout) = spawn(&["peer", "--signal", "stdio", "--offer", "--echo"]);
    let other = PeerConnection::new(Configuration::default()).unwrap();
    other
        .create_data_channel("x", DataChannelInit::default())
        .await
        .unwrap();
    let glare = other.create_offer().await.unwrap();
    peer.lines
        .send(line(&json!({"type":"offer","sdp":glare.sdp})))
        .unwrap();
    let (_pc, _dc) = answer_and_echo(&peer, stdout).await;
    let stderr = finish(peer, Some("{\"type\":\"bye\"}\n")).await;
    assert_eq!(
        stderr
            .matches("skipped signaling line: got an offer while this peer's offer waits")
            .count(),
        1,
        "{stderr}"
    );
    other.close().await;
}

/// `--offer --record`: the other side starts sending audio in a
/// renegotiation (its track reuses the transceiver it answered inactive);
/// the peer's answer makes it a track that is recorded.
#[tokio::test(flavor = "current_thread")]
async fn offering_recorder_gets_a_track_added_by_a_renegotiation() {
    let dir = common::TempPath::dir(format!("ferrtc-renegotiated-rec-{}", std::process::id()));
    let (peer, stdout) = spawn(&[
        "peer",
        "--signal",
        "stdio",
        "--offer",
        "--echo",
        "--record",
        dir.to_str().unwrap(),
    ]);
    let (pc, dc) = answer_and_echo(&peer, stdout).await;
    let stream = ferrtc::MediaStream::with_id("s");
    let track = ferrtc::MediaStreamTrack::new(ferrtc::MediaKind::Audio, "a");
    pc.add_track(&track, &[&stream]).await.unwrap();
    offer_to(&peer, &pc).await;
    wait_stable(&pc).await;
    echo_round_trip(&dc).await;
    let stderr = finish(peer, Some("{\"type\":\"bye\"}\n")).await;
    assert!(!stderr.contains("skipped"), "{stderr}");
    assert!(stderr.contains("remote audio track"), "{stderr}");
}

/// Each kind of line that is not valid signaling (README, "The `ferrtc`
/// command") gets one error line on stderr and is skipped: not JSON, an
/// unknown type, an SDP that does not parse, a description or a candidate
/// that does not fit the state (an answer to the answering peer, a
/// candidate before any offer), a candidate that does not parse, a line
/// over the size limit. The session goes on: the offer that follows is
/// answered, the channel echoes, and `bye` ends it with exit code 0.
#[tokio::test(flavor = "current_thread")]
async fn each_bad_signaling_line_gives_one_error_line_and_the_session_goes_on() {
    let (peer, stdout) = spawn(&["peer", "--echo"]);
    let (pc, dc, offer) = offering_client().await;
    let too_long = json!({"type":"offer","sdp":"x".repeat(2 << 20)});
    let bad = [
        "{\"type\":\"offer\"".to_owned() + "\n",
        line(&json!({"type":"hello"})),
        line(&json!({"type":"offer","sdp":"not sdp"})),
        line(&json!({"type":"answer","sdp":offer.sdp})),
        line(
            &json!({"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}),
        ),
        line(&too_long),
    ];
    for l in &bad {
        peer.lines.send(l.clone()).unwrap();
    }
    peer.lines
        .send(line(&json!({"type":"offer","sdp":offer.sdp})))
        .unwrap();
    peer.lines
        .send(line(&json!({"type":"candidate","candidate":"candidate:junk","sdpMid":"0","sdpMLineIndex":0})))
        .unwrap();
    let stderr = echoes_then_bye(&pc, &dc, peer, stdout).await;
    assert_eq!(
        stderr.matches("skipped signaling line").count(),
        bad.len() + 1,
        "{stderr}"
    );
    for why in [
        "malformed JSON",
        "unknown message type",
        "got an answer but this peer answers",
        "line too long",
    ] {
        assert!(stderr.contains(why), "no {why:?} in {stderr}");
    }
}
