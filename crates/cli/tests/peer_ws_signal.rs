//! `ferrtc peer`, `send` and `recv` with `--signal ws://...`: peers that
//! meet in a room of a running `ferrtc signal` instead of over stdio.

mod common;

use std::process::Stdio;
use std::time::Duration;

use ferrtc::{DataChannelEvent, DataChannelInit, PeerConnection, PeerConnectionEvent};
use ferrtc_signal::{ClientMessage, ServerMessage, Signal};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(60);

fn ferrtc(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrtc"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}

/// Starts `ferrtc signal` on a free loopback port; returns it and its
/// WebSocket URL.
async fn signal_server(extra: &[&str]) -> (Child, String) {
    let mut args = vec!["signal", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = ferrtc(&args).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    (child, format!("ws://{addr}/ws"))
}

async fn exit_code(child: &mut Child) -> Option<i32> {
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits in time")
        .unwrap()
        .code()
}

#[tokio::test(flavor = "current_thread")]
async fn send_and_recv_move_a_file_through_a_room_with_join_tokens() {
    let dir = common::TempPath::dir(format!("ferrtc-ws-file-{}", std::process::id()));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let src = dir.join("notes.bin");
    let data: Vec<u8> = (0..3_000_001u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();

    let secret = "s3cret";
    let (_server, url) = signal_server(&["--secret", secret]).await;
    let expiry = ferrtc_signal::token::unix_now() + 600;
    let token = |name: &str| ferrtc_signal::token::mint(secret.as_bytes(), "files", name, expiry);

    let recv_url = format!("{url}?token={}", token("bob"));
    let mut recv = ferrtc(&[
        "recv",
        "--out",
        out.to_str().unwrap(),
        "--signal",
        &recv_url,
        "--name",
        "bob",
        "--room",
        "files",
    ])
    .spawn()
    .unwrap();
    let send_url = format!("{url}?token={}", token("alice"));
    let mut send = ferrtc(&[
        "send",
        src.to_str().unwrap(),
        "--signal",
        &send_url,
        "--name",
        "alice",
        "--room",
        "files",
        "--call",
        "bob",
    ])
    .spawn()
    .unwrap();
    assert_eq!(exit_code(&mut send).await, Some(0), "send");
    assert_eq!(exit_code(&mut recv).await, Some(0), "recv");
    assert_eq!(std::fs::read(out.join("notes.bin")).unwrap(), data);
}

#[tokio::test(flavor = "current_thread")]
async fn a_peer_without_a_valid_token_is_refused_and_exits_with_an_error() {
    let (_server, url) = signal_server(&["--secret", "s3cret"]).await;
    let forged = ferrtc_signal::token::mint(b"not the secret", "default", "eve", u64::MAX / 2);
    for url in [url.clone(), format!("{url}?token={forged}")] {
        let mut peer = ferrtc(&["peer", "--signal", &url, "--name", "eve"])
            .spawn()
            .unwrap();
        assert_eq!(exit_code(&mut peer).await, Some(1), "{url}");
    }
}

/// A caller in the test process: a ferrtc `PeerConnection` that signals
/// through the server's WebSocket by hand.
#[tokio::test(flavor = "current_thread")]
async fn a_peer_waits_in_a_room_answers_a_call_and_echoes() {
    let (_server, url) = signal_server(&[]).await;
    let _peer = ferrtc(&[
        "peer", "--signal", &url, "--name", "echo", "--room", "lab", "--echo",
    ])
    .spawn()
    .unwrap();

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{url}?room=lab"))
        .await
        .unwrap();
    let join = ClientMessage::Join {
        name: "tester".into(),
    };
    ws.send(Message::text(join.to_json())).await.unwrap();
    // Wait until the peer is in the room.
    tokio::time::timeout(WAIT, async {
        loop {
            let text = match ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                _ => panic!("server closed"),
            };
            if let Ok(ServerMessage::Users { users }) = ServerMessage::parse(&text)
                && users.iter().any(|u| u == "echo")
            {
                return;
            }
        }
    })
    .await
    .expect("the peer joins the room");

    let pc = PeerConnection::new(ferrtc::Configuration::default()).unwrap();
    let dc = pc
        .create_data_channel("data", DataChannelInit::default())
        .await
        .unwrap();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer.clone())).await.unwrap();
    let to_echo = |signal: Signal| {
        Message::text(
            ClientMessage::Signal {
                target: "echo".into(),
                signal,
            }
            .to_json(),
        )
    };
    ws.send(to_echo(Signal::Offer { sdp: offer.sdp }))
        .await
        .unwrap();

    let echoed = tokio::time::timeout(WAIT, async {
        let mut sent = false;
        loop {
            tokio::select! {
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(_)) => continue,
                        _ => panic!("server closed"),
                    };
                    match ServerMessage::parse(&text) {
                        Ok(ServerMessage::Signal { from, signal: Signal::Answer { sdp } }) => {
                            assert_eq!(from, "echo");
                            pc.set_remote_description(ferrtc::SessionDescription::answer(sdp)).await.unwrap();
                        }
                        Ok(ServerMessage::Signal { signal: Signal::Candidate { candidate, sdp_mid, sdp_m_line_index, username_fragment }, .. }) => {
                            let init = ferrtc::IceCandidateInit { candidate, sdp_mid, sdp_m_line_index, username_fragment };
                            let _ = pc.add_ice_candidate(init).await;
                        }
                        _ => {}
                    }
                }
                event = pc.next_event() => {
                    if let Some(PeerConnectionEvent::IceCandidate(c)) = event {
                        let signal = Signal::Candidate {
                            candidate: c.candidate,
                            sdp_mid: c.sdp_mid,
                            sdp_m_line_index: c.sdp_m_line_index,
                            username_fragment: c.username_fragment,
                        };
                        ws.send(to_echo(signal)).await.unwrap();
                    }
                }
                event = dc.recv() => match event {
                    Some(DataChannelEvent::Open) if !sent => {
                        dc.send_text("ping over the room").await.unwrap();
                        sent = true;
                    }
                    Some(DataChannelEvent::Message(m)) => return m.as_bytes().to_vec(),
                    None => panic!("channel gone"),
                    _ => {}
                },
            }
        }
    })
    .await
    .expect("the peer echoes");
    assert_eq!(echoed, b"ping over the room");
    pc.close().await;
}

/// Runs `ferrtc peer` to its end; its exit code and what it wrote on stderr.
async fn peer_outcome(args: &[&str]) -> (Option<i32>, String) {
    let child = ferrtc(args).stderr(Stdio::piped()).spawn().unwrap();
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("exits in time")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn calling_oneself_is_a_usage_error() {
    let (_server, url) = signal_server(&[]).await;
    let (code, stderr) =
        peer_outcome(&["peer", "--signal", &url, "--name", "al", "--call", "al"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--call"), "{stderr}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_caller_whose_callee_never_joins_gives_up_with_an_error() {
    let (_server, url) = signal_server(&[]).await;
    let (code, stderr) =
        peer_outcome(&["peer", "--signal", &url, "--name", "al", "--call", "nobody"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("did not join"), "{stderr}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_caller_whose_callee_never_answers_gives_up_with_an_error() {
    let (_server, url) = signal_server(&[]).await;
    let (mut bob, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let join = ClientMessage::Join { name: "bob".into() };
    bob.send(Message::text(join.to_json())).await.unwrap();
    let args = ["peer", "--signal", &url, "--name", "al", "--call", "bob"];
    let peer = peer_outcome(&args);
    let mut peer = std::pin::pin!(peer);
    // Bob reads (so the server keeps him) but never answers.
    let mut offered = false;
    let (code, stderr) = loop {
        tokio::select! {
            outcome = &mut peer => break outcome,
            frame = bob.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ServerMessage::Signal { from, signal: Signal::Offer { .. } }) =
                        ServerMessage::parse(&text)
                    {
                        assert_eq!(from, "al");
                        offered = true;
                    }
                }
                Some(Ok(_)) => {}
                _ => panic!("bob's connection closed"),
            },
        }
    };
    assert!(offered, "the peer called bob");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("did not answer"), "{stderr}");
}

/// What the caller saw from the bot, in order.
#[derive(Debug, Clone)]
enum Seen {
    /// An answer, with its `a=ice-ufrag`.
    Answer(String),
    /// A candidate (empty: end of candidates), with its ufrag and whether
    /// the caller's `addIceCandidate` took it.
    Candidate(String, Option<String>, bool),
}

fn answer_ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .to_owned()
}

/// `ferrtc demo` on a free loopback port; returns it and its address.
async fn demo_server() -> (Child, String) {
    let mut server = ferrtc(&["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    (server, addr)
}

/// What a caller's WebSocket task sends.
enum Out {
    /// A signal for the bot.
    Signal(Signal),
    /// Close the WebSocket: leave the room.
    Leave,
}

/// A caller of the demo bot: relays signaling both ways in tasks and logs
/// what the bot sent. The bot's answers and candidates go to the caller's
/// current peer connection (`pc`; a new call makes a new one).
struct BotCaller {
    pc: PeerConnection,
    current: std::sync::Arc<std::sync::Mutex<PeerConnection>>,
    out: tokio::sync::mpsc::UnboundedSender<Out>,
    /// Held while an offer is being made: candidates wait for it (the
    /// offer goes out first, as a browser's `onicecandidate` follows
    /// `setLocalDescription`).
    offering: std::sync::Arc<tokio::sync::Mutex<()>>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
    /// How many `bye`s the bot sent.
    byes: tokio::sync::watch::Receiver<usize>,
    addr: String,
    _server: Option<Child>,
}

impl BotCaller {
    /// Starts `ferrtc demo` and joins it as `caller`.
    async fn start() -> BotCaller {
        let (server, addr) = demo_server().await;
        let mut caller = BotCaller::join(&addr, "caller").await;
        caller._server = Some(server);
        caller
    }

    /// Joins the demo at `addr` as `name`.
    async fn join(addr: &str, name: &str) -> BotCaller {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let (mut sink, mut stream) = ws.split();
        let join = ClientMessage::Join { name: name.into() };
        sink.send(Message::text(join.to_json())).await.unwrap();
        let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Out>();
        tokio::spawn(async move {
            while let Some(out) = out_rx.recv().await {
                let Out::Signal(signal) = out else {
                    let _ = sink.close().await;
                    break;
                };
                let m = ClientMessage::Signal {
                    target: "ferrtc-bot".into(),
                    signal,
                };
                if sink.send(Message::text(m.to_json())).await.is_err() {
                    break;
                }
            }
        });
        let pc = PeerConnection::new(ferrtc::Configuration::default()).unwrap();
        let current = std::sync::Arc::new(std::sync::Mutex::new(pc.clone()));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (bye, byes) = tokio::sync::watch::channel(0);
        {
            let (current, seen) = (current.clone(), seen.clone());
            tokio::spawn(async move {
                while let Some(Ok(frame)) = stream.next().await {
                    let Message::Text(text) = frame else { continue };
                    let Ok(ServerMessage::Signal { signal, .. }) = ServerMessage::parse(&text)
                    else {
                        continue;
                    };
                    let pc = current.lock().unwrap().clone();
                    match signal {
                        Signal::Answer { sdp } => {
                            seen.lock().unwrap().push(Seen::Answer(answer_ufrag(&sdp)));
                            let answer = ferrtc::SessionDescription::answer(sdp);
                            if let Err(e) = pc.set_remote_description(answer).await {
                                eprintln!("the bot's answer refused: {e}");
                            }
                        }
                        Signal::Candidate {
                            candidate,
                            sdp_mid,
                            sdp_m_line_index,
                            username_fragment,
                        } => {
                            let init = ferrtc::IceCandidateInit {
                                candidate: candidate.clone(),
                                sdp_mid,
                                sdp_m_line_index,
                                username_fragment: username_fragment.clone(),
                            };
                            let ok = pc.add_ice_candidate(init).await.is_ok();
                            seen.lock().unwrap().push(Seen::Candidate(
                                candidate,
                                username_fragment,
                                ok,
                            ));
                        }
                        Signal::Bye {} => bye.send_modify(|n| *n += 1),
                        _ => {}
                    }
                }
            });
        }
        let offering = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        trickle(&pc, &out, &offering);
        BotCaller {
            pc,
            current,
            out,
            offering,
            seen,
            byes,
            addr: addr.to_owned(),
            _server: None,
        }
    }

    /// A new peer connection for the next call; the old one is left as it
    /// is (the caller closes it, or not).
    fn new_call(&mut self) -> PeerConnection {
        let pc = PeerConnection::new(ferrtc::Configuration::default()).unwrap();
        trickle(&pc, &self.out, &self.offering);
        *self.current.lock().unwrap() = pc.clone();
        std::mem::replace(&mut self.pc, pc)
    }

    async fn offer(&self) {
        let _offering = self.offering.lock().await;
        let offer = self.pc.create_offer().await.unwrap();
        self.pc
            .set_local_description(Some(offer.clone()))
            .await
            .unwrap();
        self.send(Signal::Offer { sdp: offer.sdp });
    }

    /// Leaves the room (closes the WebSocket) without a `bye`.
    fn leave(&self) {
        let _ = self.out.send(Out::Leave);
    }

    /// Sends `signal` to the bot as it is.
    fn send(&self, signal: Signal) {
        self.out.send(Out::Signal(signal)).unwrap();
    }

    /// Waits until the bot has sent `n` `bye`s in all.
    async fn hung_up(&self, n: usize) {
        let mut byes = self.byes.clone();
        tokio::time::timeout(WAIT, byes.wait_for(|sent| *sent >= n))
            .await
            .expect("the bot hangs up")
            .unwrap();
    }

    /// Calls the bot on `pc` with a `chat` channel; returns the channel
    /// once it is open.
    async fn call(&self) -> ferrtc::DataChannel {
        let dc = self
            .pc
            .create_data_channel("chat", DataChannelInit::default())
            .await
            .unwrap();
        self.offer().await;
        opened(&dc).await;
        dc
    }

    /// Waits until the bot has sent `answers` answers and, after the last,
    /// its end of candidates.
    async fn wait_for_generation(&self, answers: usize) -> String {
        tokio::time::timeout(WAIT, async {
            loop {
                {
                    let seen = self.seen.lock().unwrap();
                    let n = seen.iter().filter(|s| matches!(s, Seen::Answer(_))).count();
                    if n >= answers {
                        let last = seen
                            .iter()
                            .rev()
                            .find_map(|s| match s {
                                Seen::Answer(u) => Some(u.clone()),
                                _ => None,
                            })
                            .unwrap();
                        let ended = seen.iter().any(|s| {
                            matches!(s, Seen::Candidate(c, Some(u), _) if c.is_empty() && *u == last)
                        });
                        if ended {
                            return last;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the bot's answer {answers} and its candidates: {:#?}",
                self.seen.lock().unwrap()
            )
        })
    }
}

/// Sends `pc`'s candidates to the bot.
fn trickle(
    pc: &PeerConnection,
    out: &tokio::sync::mpsc::UnboundedSender<Out>,
    offering: &std::sync::Arc<tokio::sync::Mutex<()>>,
) {
    let (pc, out, offering) = (pc.clone(), out.clone(), offering.clone());
    tokio::spawn(async move {
        while let Some(event) = pc.next_event().await {
            if let PeerConnectionEvent::IceCandidate(c) = event {
                let _offered = offering.lock().await;
                let _ = out.send(Out::Signal(Signal::Candidate {
                    candidate: c.candidate,
                    sdp_mid: c.sdp_mid,
                    sdp_m_line_index: c.sdp_m_line_index,
                    username_fragment: c.username_fragment,
                }));
            }
        }
    });
}

/// Waits until `dc` is open.
async fn opened(dc: &ferrtc::DataChannel) {
    tokio::time::timeout(WAIT, async {
        loop {
            match dc.recv().await {
                Some(DataChannelEvent::Open) => return,
                None => panic!("channel gone"),
                _ => {}
            }
        }
    })
    .await
    .expect("the channel opens");
}

async fn echo(dc: &ferrtc::DataChannel, text: &str) {
    dc.send_text(text).await.unwrap();
    let got = tokio::time::timeout(WAIT, async {
        loop {
            match dc.recv().await {
                Some(DataChannelEvent::Message(m)) => return m.as_bytes().to_vec(),
                None => panic!("channel gone"),
                _ => {}
            }
        }
    })
    .await
    .expect("the bot echoes");
    assert_eq!(got, text.as_bytes());
}

/// Every candidate the bot sends follows the answer carrying its ufrag,
/// none is lost (each generation ends with end-of-candidates the caller
/// accepts), through an ICE restart, a renegotiation adding a track, and a
/// second restart; the bot's channel echo goes on after each.
#[tokio::test(flavor = "current_thread")]
async fn the_demo_bot_trickles_each_generation_after_its_answer() {
    let caller = BotCaller::start().await;
    let dc = caller
        .pc
        .create_data_channel("chat", DataChannelInit::default())
        .await
        .unwrap();
    caller.offer().await;
    opened(&dc).await;
    let first = caller.wait_for_generation(1).await;
    echo(&dc, "one").await;

    caller.pc.restart_ice().await.unwrap();
    caller.offer().await;
    let second = caller.wait_for_generation(2).await;
    assert_ne!(first, second, "a restart answer has new credentials");
    echo(&dc, "two").await;

    let init = ferrtc::RtpTransceiverInit {
        direction: Some(ferrtc::RtpTransceiverDirection::SendRecv),
        ..Default::default()
    };
    caller
        .pc
        .add_transceiver(ferrtc::MediaKind::Audio, init)
        .await
        .unwrap();
    caller.offer().await;
    tokio::time::timeout(WAIT, async {
        while caller.pc.signaling_state().await != ferrtc::SignalingState::Stable {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the bot answers the renegotiation");
    echo(&dc, "three").await;

    caller.pc.restart_ice().await.unwrap();
    caller.offer().await;
    let third = caller.wait_for_generation(4).await;
    assert_ne!(second, third);
    echo(&dc, "four").await;

    // Order: a candidate's ufrag was answered before it; all were taken.
    let seen = caller.seen.lock().unwrap().clone();
    let mut answered = Vec::new();
    for s in &seen {
        match s {
            Seen::Answer(u) => answered.push(u.clone()),
            Seen::Candidate(c, u, ok) => {
                let u = u.clone().expect("the bot's candidates carry a ufrag");
                assert!(
                    answered.contains(&u),
                    "{c:?} of {u} before its answer: {seen:#?}"
                );
                assert!(*ok, "{c:?} refused: {seen:#?}");
            }
        }
    }
    caller.pc.close().await;
}

/// A caller calls again with a new peer connection (a new SDP session,
/// RFC 3264 §8: a renegotiation keeps the `o=` session id) without a
/// `bye`: the bot answers the new call with a new connection, whether the
/// offer comes while the old call is still up on both sides or right after
/// the caller closed the old one (before or after the bot saw its
/// close_notify), and echoes on it.
#[tokio::test(flavor = "current_thread")]
async fn the_demo_bot_answers_a_new_call_while_the_last_one_is_up_or_just_closed() {
    let mut caller = BotCaller::start().await;
    let dc = caller.call().await;
    echo(&dc, "first call").await;

    let first = caller.new_call();
    let dc = caller.call().await;
    echo(&dc, "second call").await;
    first.close().await;

    for n in 3..6 {
        let last = caller.new_call();
        last.close().await;
        let dc = caller.call().await;
        echo(&dc, &format!("call {n}")).await;
    }
    caller.pc.close().await;
}

/// Waits until the bot closes its end of the call (its close_notify).
async fn bot_closed(events: &mut ferrtc::PeerConnectionEvents) {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(PeerConnectionEvent::DtlsStateChange(ferrtc::DtlsTransportState::Closed)) => {
                    return;
                }
                None => panic!("the caller's connection ended"),
                _ => {}
            }
        }
    })
    .await
    .expect("the bot closes the call");
}

/// An offer the bot cannot answer (not SDP; a renegotiation changing the
/// DTLS fingerprint of a running call) ends the call with a `bye`: the
/// caller is not left waiting for an answer that never comes.
#[tokio::test(flavor = "current_thread")]
async fn the_demo_bot_hangs_up_on_an_offer_it_cannot_answer() {
    let caller = BotCaller::start().await;
    caller.send(Signal::Offer {
        sdp: "v=0\r\nnot sdp\r\n".into(),
    });
    caller.hung_up(1).await;

    let dc = caller.call().await;
    echo(&dc, "a call after the refused offer").await;
    let mut events = caller.pc.subscribe();
    let offer = caller.pc.create_offer().await.unwrap();
    let fingerprint = offer
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=fingerprint:sha-256 "))
        .unwrap()
        .to_owned();
    // Every hex digit changed, the colons kept.
    let other: String = fingerprint
        .chars()
        .map(|c| match c {
            ':' => ':',
            '0' => '1',
            _ => '0',
        })
        .collect();
    caller.send(Signal::Offer {
        sdp: offer.sdp.replace(&fingerprint, &other),
    });
    caller.hung_up(2).await;
    bot_closed(&mut events).await;
    caller.pc.close().await;
}

/// Calls of two callers run side by side; each ends on its own: one by
/// its `bye` (and calls again), the other by leaving the room
/// mid-call (the server's `bye`): the bot closes that connection and the
/// other call goes on.
#[tokio::test(flavor = "current_thread")]
async fn the_demo_bot_ends_each_call_on_its_callers_bye_or_departure_and_keeps_the_others() {
    let mut first = BotCaller::start().await;
    let second = BotCaller::join(&first.addr, "second").await;
    let (one, two) = (first.call().await, second.call().await);
    echo(&one, "first").await;
    echo(&two, "second").await;

    let mut events = first.pc.subscribe();
    first.send(Signal::Bye {});
    bot_closed(&mut events).await;
    first.new_call().close().await;
    let one = first.call().await;
    echo(&one, "first, called again").await;
    echo(&two, "second, still").await;

    let mut events = second.pc.subscribe();
    second.leave();
    bot_closed(&mut events).await;
    echo(&one, "first, still").await;
    assert_eq!(*first.byes.borrow(), 0, "the bot hung up on nobody");
    first.pc.close().await;
    second.pc.close().await;
}

/// A UDP relay standing for the network between a caller and the bot:
/// each is told the other is at the relay (one candidate each, on
/// 127.0.0.1), which forwards between the two while `open` and drops
/// everything otherwise, as a network cut does.
struct Relay {
    addr: std::net::SocketAddr,
    caller: std::sync::Arc<std::sync::Mutex<Option<std::net::SocketAddr>>>,
    bot: std::sync::Arc<std::sync::Mutex<Option<std::net::SocketAddr>>>,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    async fn start() -> Relay {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            addr: socket.local_addr().unwrap(),
            caller: Default::default(),
            bot: Default::default(),
            open: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        let (caller, bot, open) = (relay.caller.clone(), relay.bot.clone(), relay.open.clone());
        tokio::spawn(async move {
            let mut buf = vec![0; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if !open.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let (c, b) = (*caller.lock().unwrap(), *bot.lock().unwrap());
                let to = if Some(from) == c {
                    b
                } else if Some(from) == b {
                    c
                } else {
                    None
                };
                if let Some(to) = to {
                    let _ = socket.send_to(&buf[..n], to).await;
                }
            }
        });
        relay
    }

    /// Cuts the network (false) or restores it (true).
    fn set_open(&self, open: bool) {
        self.open.store(open, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A UDP candidate on 127.0.0.1: its address, and the candidate moved to
/// `to`.
fn moved(candidate: &str, to: std::net::SocketAddr) -> Option<(std::net::SocketAddr, String)> {
    let mut fields: Vec<String> = candidate.split(' ').map(str::to_owned).collect();
    if fields.len() < 8 || !fields[2].eq_ignore_ascii_case("udp") || fields[4] != "127.0.0.1" {
        return None;
    }
    let at = std::net::SocketAddr::new(fields[4].parse().ok()?, fields[5].parse().ok()?);
    fields[4] = to.ip().to_string();
    fields[5] = to.port().to_string();
    Some((at, fields.join(" ")))
}

/// Waits (up to `limit`) until `pc`'s connection state is `state`.
async fn connection_state(
    pc: &PeerConnection,
    state: ferrtc::PeerConnectionState,
    limit: Duration,
) {
    tokio::time::timeout(limit, async {
        while pc.connection_state().await != state {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the caller's connection is {state:?}"));
}

/// A caller of the demo bot whose media goes through a [`Relay`]; it
/// counts the bot's `bye`s.
struct RelayedCaller {
    pc: PeerConnection,
    relay: Relay,
    out: tokio::sync::mpsc::UnboundedSender<String>,
    byes: tokio::sync::watch::Receiver<usize>,
    _server: Child,
}

impl RelayedCaller {
    /// Starts `ferrtc demo` and joins it as `caller`, its connection on
    /// 127.0.0.1 only and through a relay.
    async fn start() -> RelayedCaller {
        let (server, addr) = demo_server().await;
        let relay = Relay::start().await;
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let (mut sink, mut stream) = ws.split();
        let join = ClientMessage::Join {
            name: "caller".into(),
        };
        sink.send(Message::text(join.to_json())).await.unwrap();
        let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });
        let config = ferrtc::Configuration {
            host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..Default::default()
        };
        let pc = PeerConnection::new(config).unwrap();
        // The caller's candidates are not signalled: the bot learns the
        // relay's address from the checks (peer-reflexive, RFC 8445 §7.3.1.3).
        {
            let (pc, caller, to) = (pc.clone(), relay.caller.clone(), relay.addr);
            tokio::spawn(async move {
                while let Some(event) = pc.next_event().await {
                    if let PeerConnectionEvent::IceCandidate(c) = event
                        && let Some((at, _)) = moved(&c.candidate, to)
                    {
                        *caller.lock().unwrap() = Some(at);
                    }
                }
            });
        }
        let (bye, byes) = tokio::sync::watch::channel(0usize);
        {
            let (pc, bot, to) = (pc.clone(), relay.bot.clone(), relay.addr);
            tokio::spawn(async move {
                while let Some(Ok(frame)) = stream.next().await {
                    let Message::Text(text) = frame else { continue };
                    let Ok(ServerMessage::Signal { signal, .. }) = ServerMessage::parse(&text)
                    else {
                        continue;
                    };
                    match signal {
                        Signal::Answer { sdp } => {
                            let answer = ferrtc::SessionDescription::answer(sdp);
                            if let Err(e) = pc.set_remote_description(answer).await {
                                eprintln!("the bot's answer refused: {e}");
                            }
                        }
                        Signal::Candidate {
                            candidate,
                            sdp_mid,
                            sdp_m_line_index,
                            username_fragment,
                        } => {
                            let candidate = if candidate.is_empty() {
                                candidate
                            } else if let Some((at, candidate)) = moved(&candidate, to) {
                                *bot.lock().unwrap() = Some(at);
                                candidate
                            } else {
                                continue;
                            };
                            let init = ferrtc::IceCandidateInit {
                                candidate,
                                sdp_mid,
                                sdp_m_line_index,
                                username_fragment,
                            };
                            if let Err(e) = pc.add_ice_candidate(init).await {
                                eprintln!("the bot's candidate refused: {e}");
                            }
                        }
                        Signal::Bye {} => bye.send_modify(|n| *n += 1),
                        _ => {}
                    }
                }
            });
        }
        RelayedCaller {
            pc,
            relay,
            out,
            byes,
            _server: server,
        }
    }

    /// Sends an offer of `pc` to the bot.
    async fn offer(&self) {
        let offer = self.pc.create_offer().await.unwrap();
        self.pc
            .set_local_description(Some(offer.clone()))
            .await
            .unwrap();
        let m = ClientMessage::Signal {
            target: "ferrtc-bot".into(),
            signal: Signal::Offer { sdp: offer.sdp },
        };
        self.out.send(m.to_json()).unwrap();
    }
}

/// W3C webrtc-pc `restartIce()`: an ICE restart recovers a
/// connection whose ICE failed. A call cut off the network until both
/// sides' ICE consent ran out (RFC 7675 §5.1: 30 s, which ferrtc's
/// `Configuration` cannot shorten, so this test takes about 40 s) is kept
/// by the bot, which answers the caller's restart offer on the same
/// connection (same DTLS fingerprint): the call and its channel go on.
#[tokio::test(flavor = "current_thread")]
async fn the_demo_bot_keeps_a_call_whose_ice_failed_for_the_callers_ice_restart() {
    let caller = RelayedCaller::start().await;
    let pc = &caller.pc;
    let dc = pc
        .create_data_channel("chat", DataChannelInit::default())
        .await
        .unwrap();
    caller.offer().await;
    opened(&dc).await;
    echo(&dc, "before the cut").await;

    caller.relay.set_open(false);
    connection_state(pc, ferrtc::PeerConnectionState::Failed, WAIT).await;
    // The bot's consent runs out too, within one consent interval (RFC
    // 7675 §5.1: 5 s, randomized to 4 to 6 s) of the caller's.
    tokio::time::sleep(Duration::from_secs(8)).await;

    caller.relay.set_open(true);
    pc.restart_ice().await.unwrap();
    caller.offer().await;
    connection_state(pc, ferrtc::PeerConnectionState::Connected, WAIT).await;
    echo(&dc, "after the restart").await;
    assert_eq!(*caller.byes.borrow(), 0, "the bot hung up");
    pc.close().await;
}

/// A call whose ICE failed and that the caller does not restart (a caller
/// that vanished, its `bye` lost) is not kept for ever: once its
/// connection has been `failed` for the ICE consent timeout again (RFC
/// 7675 §5.1, 30 s), the bot closes it and says `bye`. This test takes
/// about 70 s.
#[tokio::test(flavor = "current_thread")]
async fn the_demo_bot_ends_with_a_bye_a_call_whose_ice_failed_and_was_not_restarted() {
    let caller = RelayedCaller::start().await;
    let dc = caller
        .pc
        .create_data_channel("chat", DataChannelInit::default())
        .await
        .unwrap();
    caller.offer().await;
    opened(&dc).await;
    echo(&dc, "before the cut").await;

    caller.relay.set_open(false);
    connection_state(&caller.pc, ferrtc::PeerConnectionState::Failed, WAIT).await;
    assert_eq!(*caller.byes.borrow(), 0, "the bot hung up at once");
    // The bot's connection fails within one consent interval (4 to 6 s)
    // of the caller's, and it waits 30 s more for a restart.
    let mut byes = caller.byes.clone();
    tokio::time::timeout(Duration::from_secs(50), byes.wait_for(|n| *n >= 1))
        .await
        .expect("the bot ends the failed call with a bye")
        .unwrap();
    caller.pc.close().await;
}
