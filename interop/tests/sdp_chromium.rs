//! SDP offer/answer against headless Chromium (Debian `chromium`, driven by
//! playwright-core through `interop/scripts/sdp_chromium.mjs`, JSON lines
//! over stdin/stdout), issue 3:
//!
//! - Chromium makes live offers of every kind of the SDP corpus
//!   (`fixtures/sdp/README.md`: data channel; audio; video; audio + video +
//!   data; recvonly audio + video; simulcast video with rids q, h, f; a
//!   renegotiation adding a second video track; an ICE restart), ferrtc-jsep
//!   answers each, and Chromium's `setRemoteDescription(answer)` must succeed
//!   and leave it `stable` with the directions ferrtc answered;
//! - ferrtc-jsep makes offers (data only; audio + video + data; simulcast
//!   video, which Chromium declines as RFC 8829 §3.7 says browsers do),
//!   Chromium answers them, and the answer must parse with ferrtc-sdp and
//!   negotiate back in ferrtc-jsep (stable, Chromium's ufrag and
//!   fingerprint, codecs, directions, rids);
//! - every SDP Chromium produced parses and writes back byte-identical.
//!
//! The JSEP logic stays here in Rust; the script only runs
//! RTCPeerConnection steps in the page. Needs `node`, `/usr/bin/chromium`
//! (or `CHROMIUM`) and `npm ci --prefix interop/browser`. Runs only with
//! FERRTC_INTEROP=1. The tests take turns with one browser each, so that two
//! Chromiums never compete for the CPU.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ferrtc_dtls::Role;
use ferrtc_interop::LinePeer;
use ferrtc_jsep::{
    AnswerOptions, IceCredentials, Jsep, JsepConfig, OfferOptions, SendEncoding,
    SessionDescription, SignalingState, TransceiverInit,
};
use ferrtc_sdp::{
    Direction, Fingerprint, HashFunction, MediaKind, RidDirection, SessionDescription as Sdp,
    SimulcastStreams,
};
use serde_json::{Value, json};

/// How long one browser step may take before the test fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// One browser at a time across the tests of this file.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// The node script with its headless Chromium; closed (then killed) on drop.
struct Chromium {
    peer: LinePeer,
    // Dropped after `peer`: the next test starts its browser once this one is gone.
    _turn: MutexGuard<'static, ()>,
}

impl Chromium {
    /// Starts the browser, or returns `None` when interop tests are off.
    fn start() -> Option<Chromium> {
        if !ferrtc_interop::interop_enabled() {
            return None;
        }
        let turn = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&chromium).exists(),
            "{chromium} is missing: apt-get install chromium"
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(
            root.join("browser/node_modules/playwright-core").exists(),
            "playwright-core is missing: npm ci --prefix interop/browser"
        );
        let node = std::env::var("FERRTC_NODE").unwrap_or_else(|_| "node".into());
        let script = ferrtc_interop::script("sdp_chromium.mjs");
        let script = script.to_str().expect("UTF-8 path");
        let peer = LinePeer::spawn(Path::new(&node), &[script]);
        Some(Chromium { peer, _turn: turn })
    }

    /// Sends one request and returns its reply; a failed step fails the test.
    fn step(&mut self, request: Value) -> Value {
        self.peer.send_line(&request.to_string());
        let line = self.peer.recv_line(STEP_TIMEOUT).unwrap_or_else(|| {
            panic!("Chromium did not reply within {STEP_TIMEOUT:?} to {request}")
        });
        let reply: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line}"));
        assert_eq!(
            reply["ok"],
            true,
            "Chromium failed {}: {}\n{}",
            request["op"],
            reply["error"],
            request["sdp"].as_str().unwrap_or_default()
        );
        reply
    }

    /// A new pc set up as `scenario`, and its offer (applied locally).
    fn offer(&mut self, pc: &str, scenario: &str) -> String {
        let reply = self.step(json!({"op": "offer", "pc": pc, "scenario": scenario}));
        sdp_of(&reply)
    }

    /// A subsequent offer of `pc` after `change` (applied locally).
    fn reoffer(&mut self, pc: &str, change: &str) -> String {
        let reply = self.step(json!({"op": "reoffer", "pc": pc, "change": change}));
        sdp_of(&reply)
    }

    /// `setRemoteDescription(answer)` on `pc`; returns the reply with the
    /// signaling state and transceivers.
    fn accept_answer(&mut self, pc: &str, answer: &SessionDescription) -> Value {
        self.step(json!({"op": "accept-answer", "pc": pc, "sdp": answer.sdp}))
    }

    /// A new pc answering `offer`, with a fake track on every media
    /// transceiver when `send`; returns the reply with the answer SDP.
    fn answer(&mut self, pc: &str, offer: &SessionDescription, send: bool) -> Value {
        self.step(json!({"op": "answer", "pc": pc, "sdp": offer.sdp, "send": send}))
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Let the script close the browser; LinePeer kills node afterwards.
        self.peer.send_line(r#"{"op":"quit"}"#);
        let _ = self.peer.recv_line(Duration::from_secs(10));
    }
}

fn sdp_of(reply: &Value) -> String {
    reply["sdp"]
        .as_str()
        .unwrap_or_else(|| panic!("no sdp in {reply}"))
        .to_owned()
}

/// Parses an SDP Chromium produced and checks `write(parse(x)) == x`
/// (Chromium writes CRLF, so no normalisation applies).
fn parse_lossless(what: &str, text: &str) -> Sdp {
    let sdp: Sdp = text
        .parse()
        .unwrap_or_else(|e| panic!("{what}: ferrtc-sdp rejects Chromium's SDP: {e}\n{text}"));
    assert_eq!(sdp.to_string(), text, "{what}: write(parse(x)) != x");
    sdp
}

fn fingerprint(seed: u8) -> Fingerprint {
    Fingerprint::from_digest(HashFunction::Sha256, &[seed; 32])
}

fn ferrtc(session_id: u64, ufrag: &str) -> Jsep {
    Jsep::new(JsepConfig::new(
        session_id,
        IceCredentials::new(ufrag, "ferrtcpasswordferrtcpass"),
        vec![fingerprint(0x5a)],
    ))
}

/// ferrtc answers `offer` and applies its answer; returns the answer.
fn ferrtc_answers(jsep: &mut Jsep, what: &str, offer: &str, options: AnswerOptions) -> Sdp {
    jsep.set_remote_description(SessionDescription::offer(offer))
        .unwrap_or_else(|e| panic!("{what}: set_remote_description(offer): {e}\n{offer}"));
    let answer = jsep
        .create_answer(options)
        .unwrap_or_else(|e| panic!("{what}: create_answer: {e}\n{offer}"));
    jsep.set_local_description(answer.clone())
        .unwrap_or_else(|e| panic!("{what}: set_local_description(answer): {e}"));
    assert_eq!(jsep.signaling_state(), SignalingState::Stable, "{what}");
    answer.sdp.parse().expect("ferrtc's answer parses")
}

/// Chromium's transceivers in a reply, as (mid, currentDirection, sendRids).
fn chromium_transceivers(reply: &Value) -> Vec<(String, String, Vec<String>)> {
    reply["transceivers"]
        .as_array()
        .unwrap_or_else(|| panic!("no transceivers in {reply}"))
        .iter()
        .map(|t| {
            let rids = t["sendRids"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (
                t["mid"].as_str().unwrap_or_default().to_owned(),
                t["currentDirection"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                rids,
            )
        })
        .collect()
}

/// The first `a=ice-ufrag` of an SDP (session or media level).
fn ufrag(sdp: &Sdp) -> String {
    sdp.ice_ufrag()
        .or_else(|| sdp.media.iter().find_map(|m| m.ice_ufrag()))
        .expect("an a=ice-ufrag")
        .to_owned()
}

/// Chromium applies ferrtc's `answer` to `pc` (whose offer it answers): the
/// state is stable and every Chromium transceiver took the direction ferrtc
/// answered, seen from Chromium's side.
fn chromium_accepts(
    browser: &mut Chromium,
    what: &str,
    pc: &str,
    answer: &Sdp,
) -> Vec<(String, String, Vec<String>)> {
    let reply = browser.accept_answer(pc, &SessionDescription::answer(answer.to_string()));
    assert_eq!(
        reply["state"], "stable",
        "{what}: Chromium after the answer"
    );
    let transceivers = chromium_transceivers(&reply);
    for (mid, current, _) in &transceivers {
        let m = answer
            .media_by_mid(mid)
            .unwrap_or_else(|| panic!("{what}: no mid {mid} in ferrtc's answer"));
        assert_eq!(
            current,
            m.direction().reverse().as_str(),
            "{what}: Chromium's currentDirection of mid {mid}"
        );
    }
    transceivers
}

/// One whole exchange: Chromium offers `scenario` on a new pc, ferrtc
/// answers, Chromium applies the answer. Returns ferrtc's session and answer.
fn chromium_offers(browser: &mut Chromium, scenario: &str) -> (Jsep, Sdp, Sdp) {
    let offer_text = browser.offer(scenario, scenario);
    let offer = parse_lossless(&format!("{scenario} offer"), &offer_text);
    let mut jsep = ferrtc(7, "frtc");
    let answer = ferrtc_answers(&mut jsep, scenario, &offer_text, AnswerOptions::default());
    chromium_accepts(browser, scenario, scenario, &answer);
    let transport = jsep.transport().expect("a negotiated transport");
    assert_eq!(transport.remote_ice.ufrag, ufrag(&offer), "{scenario}");
    (jsep, offer, answer)
}

#[test]
fn chromium_accepts_ferrtc_answers_to_its_live_offers_of_every_corpus_kind() {
    let Some(mut browser) = Chromium::start() else {
        return;
    };
    for scenario in ["datachannel", "audio", "video", "av-dc", "recvonly"] {
        let (jsep, offer, answer) = chromium_offers(&mut browser, scenario);
        let offered: Vec<_> = offer.media.iter().map(|m| m.mid()).collect();
        let answered: Vec<_> = answer.media.iter().map(|m| m.mid()).collect();
        assert_eq!(answered, offered, "{scenario}: mids of the answer");
        assert!(
            answer.media.iter().all(|m| !m.is_rejected()),
            "{scenario}: ferrtc rejected a section:\n{answer}"
        );
        let has_data = offer.media.iter().any(|m| m.kind == MediaKind::Application);
        let sctp = &jsep.transport().expect("transport").sctp;
        assert_eq!(sctp.is_some(), has_data, "{scenario}: data section");
        for t in jsep.transceivers() {
            let n = t.negotiated().expect("every media section negotiated");
            assert!(
                n.codecs.iter().any(|c| !c.is_rtx()),
                "{scenario}: mid {} has no codec",
                n.mid
            );
        }
    }
}

#[test]
fn chromium_sends_simulcast_q_h_f_once_ferrtc_answers_with_recv_rids() {
    let Some(mut browser) = Chromium::start() else {
        return;
    };
    let offer_text = browser.offer("simulcast", "simulcast");
    let offer = parse_lossless("simulcast offer", &offer_text);
    let sim = offer.media[0]
        .simulcast()
        .expect("Chromium offers simulcast");
    assert!(sim.streams(RidDirection::Send).is_some());
    let mut jsep = ferrtc(7, "frtc");
    let answer = ferrtc_answers(
        &mut jsep,
        "simulcast",
        &offer_text,
        AnswerOptions::default(),
    );
    let recv = answer.media[0]
        .simulcast()
        .and_then(|s| s.streams(RidDirection::Recv))
        .map(rid_names)
        .unwrap_or_default();
    assert_eq!(recv, ["q", "h", "f"], "ferrtc's answer:\n{answer}");
    let transceivers = chromium_accepts(&mut browser, "simulcast", "simulcast", &answer);
    // Chromium keeps all three encodings only if it accepted the rids.
    assert_eq!(transceivers[0].2, ["q", "h", "f"]);
    let negotiated = jsep.transceivers()[0].negotiated().expect("negotiated");
    assert_eq!(negotiated.recv_rids, ["q", "h", "f"]);
}

#[test]
fn chromium_accepts_ferrtc_answer_to_a_renegotiation_adding_a_second_video_track() {
    let Some(mut browser) = Chromium::start() else {
        return;
    };
    let (mut jsep, _, first) = chromium_offers(&mut browser, "video");
    assert_eq!(first.media.len(), 1);
    let offer_text = browser.reoffer("video", "add-video");
    let offer = parse_lossless("renegotiation offer", &offer_text);
    assert_eq!(offer.media.len(), 2, "Chromium offers a second section");
    let answer = ferrtc_answers(
        &mut jsep,
        "renegotiation",
        &offer_text,
        AnswerOptions::default(),
    );
    let mids: Vec<_> = answer.media.iter().map(|m| m.mid()).collect();
    assert_eq!(mids, [first.media[0].mid(), offer.media[1].mid()]);
    let transceivers = chromium_accepts(&mut browser, "renegotiation", "video", &answer);
    assert_eq!(transceivers.len(), 2);
    assert!(transceivers.iter().all(|(_, d, _)| d == "sendonly"));
    assert_eq!(jsep.transceivers().len(), 2);
    for t in jsep.transceivers() {
        assert_eq!(t.current_direction(), Some(Direction::RecvOnly));
    }
}

#[test]
fn chromium_accepts_ferrtc_answer_with_new_credentials_to_its_ice_restart() {
    let Some(mut browser) = Chromium::start() else {
        return;
    };
    let (mut jsep, first, _) = chromium_offers(&mut browser, "video");
    let offer_text = browser.reoffer("video", "restart-ice");
    let offer = parse_lossless("ICE restart offer", &offer_text);
    assert_ne!(ufrag(&offer), ufrag(&first), "Chromium changed its ufrag");
    let restarted = IceCredentials::new("rstr", "restartedpasswordrestart");
    let answer = ferrtc_answers(
        &mut jsep,
        "ICE restart",
        &offer_text,
        AnswerOptions {
            ice_credentials: Some(restarted.clone()),
        },
    );
    assert_eq!(ufrag(&answer), "rstr");
    chromium_accepts(&mut browser, "ICE restart", "video", &answer);
    let transport = jsep.transport().expect("transport");
    assert_eq!(transport.remote_ice.ufrag, ufrag(&offer));
    assert_eq!(transport.local_ice, restarted);
}

/// ferrtc offers from `jsep`, Chromium answers (sending on every media
/// section when `send`), ferrtc applies the answer. Returns Chromium's
/// answer, checked against the negotiated transport.
fn ferrtc_offers(browser: &mut Chromium, what: &str, jsep: &mut Jsep, send: bool) -> (Sdp, Sdp) {
    let offer = jsep
        .create_offer(OfferOptions::default())
        .unwrap_or_else(|e| panic!("{what}: create_offer: {e}"));
    jsep.set_local_description(offer.clone())
        .unwrap_or_else(|e| panic!("{what}: set_local_description(offer): {e}"));
    let reply = browser.answer(what, &offer, send);
    assert_eq!(reply["state"], "stable", "{what}: Chromium after answering");
    let answer_text = sdp_of(&reply);
    let answer = parse_lossless(&format!("{what}: Chromium's answer"), &answer_text);
    jsep.set_remote_description(SessionDescription::answer(answer_text.as_str()))
        .unwrap_or_else(|e| panic!("{what}: set_remote_description(answer): {e}\n{answer}"));
    assert_eq!(jsep.signaling_state(), SignalingState::Stable, "{what}");
    let offer: Sdp = offer.sdp.parse().expect("ferrtc's offer parses");
    let transport = jsep.transport().expect("a negotiated transport");
    assert_eq!(transport.remote_ice.ufrag, ufrag(&answer), "{what}");
    let chromium_fingerprint = answer
        .media
        .iter()
        .find_map(|m| m.fingerprints().next())
        .or_else(|| answer.fingerprints().next())
        .expect("Chromium's answer has a fingerprint");
    assert_eq!(
        transport.remote_fingerprints,
        std::slice::from_ref(chromium_fingerprint)
    );
    // Chromium answers an actpass offer with a=setup:active: it is the DTLS client.
    assert_eq!(transport.dtls_role, Role::Server, "{what}");
    assert!(
        answer.media.iter().all(|m| !m.is_rejected()),
        "{what}: Chromium rejected a section:\n{answer}"
    );
    (offer, answer)
}

#[test]
fn chromium_answers_a_ferrtc_data_only_offer_and_it_negotiates_back() {
    let Some(mut browser) = Chromium::start() else {
        return;
    };
    let mut jsep = ferrtc(11, "dtch");
    jsep.request_data_channel();
    let (_, answer) = ferrtc_offers(&mut browser, "data-only", &mut jsep, false);
    assert_eq!(answer.media.len(), 1);
    let sctp = jsep
        .transport()
        .and_then(|t| t.sctp.clone())
        .expect("SCTP negotiated");
    assert_eq!(Some(sctp.remote_port), answer.media[0].sctp_port());
    assert_eq!(
        Some(sctp.remote_max_message_size),
        answer.media[0].max_message_size()
    );
}

#[test]
fn chromium_answers_a_ferrtc_audio_video_data_offer_and_codecs_negotiate_back() {
    let Some(mut browser) = Chromium::start() else {
        return;
    };
    let mut jsep = ferrtc(12, "avdc");
    let mut audio = TransceiverInit::new(MediaKind::Audio, Direction::SendRecv);
    audio.stream_ids = vec!["ferrtc-stream".into()];
    audio.track_id = Some("ferrtc-mic".into());
    audio.ssrc = Some(1111);
    let audio = jsep.add_transceiver(audio);
    let mut video = TransceiverInit::new(MediaKind::Video, Direction::SendRecv);
    video.stream_ids = vec!["ferrtc-stream".into()];
    video.track_id = Some("ferrtc-cam".into());
    video.ssrc = Some(2222);
    video.rtx_ssrc = Some(3333);
    let video = jsep.add_transceiver(video);
    jsep.request_data_channel();
    let (offer, answer) = ferrtc_offers(&mut browser, "audio+video+data", &mut jsep, true);
    assert_eq!(answer.media.len(), 3);
    assert!(jsep.transport().and_then(|t| t.sctp.as_ref()).is_some());

    for (id, first_choice) in [(audio, "opus"), (video, "VP8")] {
        let t = jsep.transceiver(id).expect("transceiver");
        let n = t.negotiated().expect("negotiated");
        // Chromium sends too: sendrecv both ways, with its msid and SSRCs.
        assert_eq!(n.direction, Direction::SendRecv, "{first_choice}");
        assert!(n.remote_msid.is_some(), "{first_choice}: Chromium's msid");
        assert!(
            !n.remote_ssrcs.is_empty(),
            "{first_choice}: Chromium's SSRCs"
        );
        let primary: Vec<_> = n.codecs.iter().filter(|c| !c.is_rtx()).collect();
        assert!(
            primary
                .first()
                .is_some_and(|c| c.name.eq_ignore_ascii_case(first_choice)),
            "{first_choice}: negotiated {primary:?}"
        );
        // Every codec Chromium answered is one ferrtc offered, same payload type.
        let section = offer.media_by_mid(&n.mid).expect("offered section");
        for c in &n.codecs {
            let offered = section
                .rtpmap(c.payload_type)
                .unwrap_or_else(|| panic!("pt {} was not offered", c.payload_type));
            assert!(offered.encoding.eq_ignore_ascii_case(&c.name));
            assert_eq!(offered.clock_rate, c.clock_rate);
        }
    }
}

#[test]
fn chromium_answers_a_ferrtc_simulcast_offer_with_one_stream_and_ferrtc_sends_one() {
    let Some(mut browser) = Chromium::start() else {
        return;
    };
    let mut jsep = ferrtc(13, "smcs");
    let mut video = TransceiverInit::new(MediaKind::Video, Direction::SendOnly);
    video.stream_ids = vec!["ferrtc-stream".into()];
    video.track_id = Some("ferrtc-cam".into());
    video.send_encodings = ["q", "h", "f"]
        .map(|rid| SendEncoding { rid: rid.into() })
        .to_vec();
    let video = jsep.add_transceiver(video);
    let (offer, answer) = ferrtc_offers(&mut browser, "simulcast", &mut jsep, false);
    let offered = offer.media[0]
        .simulcast()
        .and_then(|s| s.streams(RidDirection::Send))
        .map(rid_names)
        .unwrap_or_default();
    assert_eq!(offered, ["q", "h", "f"], "ferrtc's offer:\n{offer}");
    // RFC 8829 §3.7: a browser does not answer simulcast it is offered, so
    // Chromium declines it (no a=simulcast, no a=rid) and accepts one stream.
    assert!(answer.media[0].simulcast().is_none(), "{answer}");
    assert_eq!(answer.media[0].rids().count(), 0, "{answer}");
    let n = jsep
        .transceiver(video)
        .and_then(|t| t.negotiated())
        .expect("negotiated");
    assert_eq!(n.direction, Direction::SendOnly);
    // RFC 8853 §5.3: without a=simulcast in the answer, the offerer sends
    // a single stream, so no rid is negotiated for sending.
    assert!(
        n.send_rids.is_empty(),
        "negotiated send rids {:?}",
        n.send_rids
    );
}

/// The first rid of each stream of one direction of `a=simulcast`.
fn rid_names(streams: &SimulcastStreams) -> Vec<String> {
    streams
        .streams
        .iter()
        .filter_map(|alternatives| alternatives.first())
        .map(|rid| rid.id.clone())
        .collect()
}
