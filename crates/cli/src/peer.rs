//! `ferrtc peer --signal stdio|ws://...`: a command-line peer that answers
//! (or offers), optionally echoing every data-channel message, playing media
//! files and recording the peer's tracks. With a signaling server's URL it
//! joins a room under `--name` and calls `--call NAME` (offering) or waits
//! to be called (answering).

use std::io::Write;

use crate::media::Media;
use crate::signal::{Incoming, Outgoing, Received, Signaling, Target};
use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, IceServer, PeerConnection,
    PeerConnectionEvent, PeerConnectionState, SdpType, SignalingState,
};

/// Options of the peer subcommand that are implemented (also the ICE
/// options of `send` and `recv`).
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// `--signal`: stdio or a signaling server's room.
    pub signal: Target,
    /// Create the offer (with `channels`) instead of answering.
    pub offer: bool,
    /// Channel labels to create when offering.
    pub channels: Vec<String>,
    /// Echo every message back on its channel.
    pub echo: bool,
    /// `--ice-server` URLs (STUN and TURN).
    pub ice_servers: Vec<String>,
    /// `--ice-username`, given to every `--ice-server`.
    pub ice_username: Option<String>,
    /// `--ice-credential`, given to every `--ice-server`.
    pub ice_credential: Option<String>,
    /// `--relay-only`: W3C `iceTransportPolicy: "relay"`.
    pub relay_only: bool,
    /// `--play` files, read.
    pub play: Vec<crate::play::PlayFile>,
    /// `--record` directory.
    pub record: Option<std::path::PathBuf>,
    /// `--dtmf` tones.
    pub dtmf: Option<String>,
    /// `--snapshot` file (feature `codecs`).
    pub snapshot: Option<std::path::PathBuf>,
}

impl PeerOptions {
    /// Stdio signaling, answering, no media: what `send` and `recv` start from.
    pub fn new(signal: Target) -> Self {
        Self {
            signal,
            offer: false,
            channels: Vec::new(),
            echo: false,
            ice_servers: Vec::new(),
            ice_username: None,
            ice_credential: None,
            relay_only: false,
            play: Vec::new(),
            record: None,
            dtmf: None,
            snapshot: None,
        }
    }
}

/// The error of `peer`, `send` and `recv`: a library error, or the
/// command's own reason, printed as it is (not under the library's
/// `socket:` label, which is for sockets that cannot be opened).
pub type CliError = crate::demo::BoxError;

/// Opens `--signal`.
pub async fn open_signaling(target: &Target) -> Result<Signaling, CliError> {
    Ok(Signaling::open(target).await?)
}

pub fn emit(message: &Outgoing) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means nobody listens: nothing better to do than go on.
    let _ = writeln!(out, "{}", message.to_line());
    let _ = out.flush();
}

fn skip(reason: impl std::fmt::Display) {
    eprintln!("ferrtc: skipped signaling line: {reason}");
}

/// Handles one channel: logs its events and echoes if asked.
fn serve_channel(dc: DataChannel, echo: bool) {
    tokio::spawn(async move {
        while let Some(ev) = dc.recv().await {
            match ev {
                DataChannelEvent::Open => tracing::info!("channel {:?} open", dc.label()),
                DataChannelEvent::Message(m) => {
                    tracing::debug!(
                        "channel {:?}: {} message of {} bytes",
                        dc.label(),
                        if m.is_binary() { "binary" } else { "text" },
                        m.as_bytes().len()
                    );
                    if echo {
                        let binary = m.is_binary();
                        let data = match std::sync::Arc::unwrap_or_clone(m) {
                            ferrtc::DataChannelMessage::Text(s) => s.into_bytes(),
                            ferrtc::DataChannelMessage::Binary(b) => b,
                        };
                        if let Err(e) = dc.send(data, binary).await {
                            tracing::warn!("echo on {:?} failed: {e}", dc.label());
                        }
                    }
                }
                DataChannelEvent::Closing => tracing::info!("channel {:?} closing", dc.label()),
                DataChannelEvent::Close => {
                    tracing::info!("channel {:?} closed", dc.label());
                    break;
                }
                _ => {}
            }
        }
    });
}

/// Builds the connection from the ICE options.
pub fn connect(opts: &PeerOptions) -> Result<PeerConnection, ferrtc::Error> {
    let ice_servers = opts
        .ice_servers
        .iter()
        .map(|url| IceServer {
            urls: vec![url.clone()],
            username: opts.ice_username.clone(),
            credential: opts.ice_credential.clone(),
        })
        .collect();
    let ice_transport_policy = if opts.relay_only {
        ferrtc::IceTransportPolicy::Relay
    } else {
        ferrtc::IceTransportPolicy::All
    };
    PeerConnection::new(Configuration {
        ice_servers,
        ice_transport_policy,
        // As browsers do: TCP candidates too, so that a peer whose UDP is
        // blocked can still connect (RFC 6544).
        tcp_candidates: true,
        ..Configuration::default()
    })
}

/// Runs the peer until `bye` or end of stdin.
pub async fn run(opts: PeerOptions) -> Result<(), CliError> {
    let mut signaling = open_signaling(&opts.signal).await?;
    let pc = connect(&opts)?;
    if opts.offer {
        let labels = if opts.channels.is_empty() {
            vec!["data".to_owned()]
        } else {
            opts.channels.clone()
        };
        for label in &labels {
            let dc = pc
                .create_data_channel(label, DataChannelInit::default())
                .await?;
            serve_channel(dc, opts.echo);
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let echo = opts.echo;
    tokio::spawn(async move {
        while let Some(dc) = rx.recv().await {
            serve_channel(dc, echo);
        }
    });
    let mut media = Media::new(opts.play, opts.record);
    media.set_dtmf(opts.dtmf);
    media.set_snapshot(opts.snapshot);
    let result = session(
        &pc,
        opts.offer,
        tx,
        std::future::pending(),
        &mut media,
        &mut signaling,
        // A peer may restart ICE: `peer` goes on until bye or end of input.
        false,
    )
    .await;
    // The connection is closed: the players stop, the recorders finish
    // their files (a second Ctrl-C or SIGTERM gives up on them).
    media.finish(shutdown_signal()).await;
    result?;
    Ok(())
}

/// Resolves at SIGINT or (Unix) SIGTERM or SIGHUP; never when they cannot be
/// watched.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // SIGHUP too: a closed terminal or a dropped ssh session ends the
        // session as Ctrl-C does (its work is dropped and cleans up);
        // unless it is ignored (`nohup`), which watching it would undo.
        // Read before registering: a handler would clear the ignored mark.
        let hangup = match hangup_watched() {
            true => signal(SignalKind::hangup()).ok(),
            false => None,
        };
        let hangup = async {
            match hangup {
                Some(mut hup) => {
                    hup.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                _ = term.recv() => {}
                () = hangup => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Whether SIGHUP may be watched: it is not ignored, as `nohup` leaves it
/// (read from Linux's `/proc/self/status`; elsewhere it is not watched).
#[cfg(unix)]
fn hangup_watched() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        // Bit 0 is signal 1, SIGHUP.
        .is_some_and(|ignored| ignored & 1 == 0)
}

/// How a [`session`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// `bye` or end of stdin.
    Signaling,
    /// The connection failed (W3C `connectionState` `failed`: ICE consent
    /// lost, RFC 7675 §5.1, or DTLS failed), in a session that ends there.
    Failed,
    /// The work finished with this result.
    Work(Result<(), String>),
}

/// Runs `signaling` for `pc` (sending the offer first when `offering`)
/// until `bye`, end of stdin (or the server's close), SIGINT or SIGTERM, or
/// the end of `work`, or with `end_on_failure` a failed connection (which
/// only an ICE restart, never made by `send` or `recv`, could revive);
/// hands the channels the peer opens to `channels` and its tracks to
/// `media`, which also adds its tracks before the offer or the answer;
/// closes the connection at the end.
pub async fn session(
    pc: &PeerConnection,
    offering: bool,
    channels: tokio::sync::mpsc::UnboundedSender<DataChannel>,
    work: impl std::future::Future<Output = Result<(), String>>,
    media: &mut Media,
    signaling: &mut Signaling,
    end_on_failure: bool,
) -> Result<End, CliError> {
    let shutdown = shutdown_signal();
    let mut shutdown = std::pin::pin!(shutdown);
    if offering {
        media.add_tracks(pc, false).await?;
        let offer = pc.create_offer().await?;
        pc.set_local_description(Some(offer.clone())).await?;
        if let Some(m) = Outgoing::description(&offer) {
            signaling.send(&m).await;
        }
    }
    let mut work = std::pin::pin!(work);
    let mut failed = None;
    let end = loop {
        tokio::select! {
            result = &mut work => break End::Work(result),
            () = &mut shutdown => { tracing::info!("signal: exiting"); break End::Signaling; }
            received = signaling.recv() => match received {
                Received::End => break End::Signaling,
                Received::Failed(why) => { failed = Some(why); break End::Signaling; }
                Received::Skip(why) => if !why.is_empty() { skip(why) },
                Received::Message(Incoming::Bye) => { tracing::info!("bye"); break End::Signaling; }
                Received::Message(Incoming::Description(d)) => {
                    match on_description(pc, d, offering, media).await {
                        Ok(Some(answer)) => signaling.send(&answer).await,
                        Ok(None) => {}
                        Err(e) => skip(e),
                    }
                }
                Received::Message(Incoming::Candidate(c)) => {
                    if let Err(e) = pc.add_ice_candidate(c).await {
                        skip(e);
                    }
                }
            },
            ev = pc.next_event() => match ev {
                Some(PeerConnectionEvent::IceCandidate(c)) => signaling.send(&Outgoing::candidate(c)).await,
                Some(PeerConnectionEvent::DataChannel(dc)) => {
                    tracing::info!("remote opened channel {:?}", dc.label());
                    let _ = channels.send(dc);
                }
                Some(PeerConnectionEvent::ConnectionStateChange(s)) => {
                    tracing::info!("connection state {}", s.as_str());
                    if end_on_failure && s == PeerConnectionState::Failed {
                        break End::Failed;
                    }
                }
                Some(PeerConnectionEvent::Track(t)) => media.on_track(*t),
                Some(PeerConnectionEvent::IceConnectionStateChange(s)) => {
                    tracing::debug!("ICE connection state {s:?}");
                }
                Some(_) => {}
                None => break End::Signaling,
            }
        }
    };
    pc.close().await;
    signaling.close().await;
    if let Some(why) = failed {
        return Err(why.into());
    }
    Ok(end)
}

/// Applies a remote description; for an offer, returns the answer to send.
async fn on_description(
    pc: &PeerConnection,
    d: ferrtc::SessionDescription,
    offering: bool,
    media: &mut Media,
) -> Result<Option<Outgoing>, String> {
    match (d.kind, offering) {
        // The other side may renegotiate (an ICE restart, a track) once the
        // first exchange is done: an offer fits `stable` (W3C webrtc-pc
        // §4.4.1.5, RFC 9429 §3.2); while this peer's own offer waits for
        // its answer it is glare, which this peer does not roll back.
        (SdpType::Offer, true) if pc.signaling_state().await != SignalingState::Stable => {
            return Err("got an offer while this peer's offer waits for its answer".into());
        }
        (SdpType::Answer, false) => return Err("got an answer but this peer answers".into()),
        _ => {}
    }
    let kind = d.kind;
    let mut reply = None;
    pc.set_remote_description(d)
        .await
        .map_err(|e| e.to_string())?;
    if kind == SdpType::Offer {
        // Before the answer: the tracks reuse the offered transceivers.
        media
            .add_tracks(pc, true)
            .await
            .map_err(|e| e.to_string())?;
        let answer = pc.create_answer().await.map_err(|e| e.to_string())?;
        pc.set_local_description(Some(answer.clone()))
            .await
            .map_err(|e| e.to_string())?;
        reply = Outgoing::description(&answer);
    }
    if matches!(kind, SdpType::Offer | SdpType::Answer) {
        media.negotiated(pc);
    }
    Ok(reply)
}
