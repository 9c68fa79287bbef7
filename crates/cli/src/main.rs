//! The `ferrtc` command (contract in README.md, "The `ferrtc` command").
//! Only what is built is declared: `--help` lists nothing that would fail.

mod bench;
mod demo;
mod dtmf;
mod file;
mod forward;
mod media;
mod peer;
mod play;
mod record;
mod signal;
#[cfg(feature = "codecs")]
mod snapshot;
/// Temp files and directories of the unit tests, removed when dropped.
#[cfg(test)]
#[path = "../tests/common/temp_path.rs"]
mod temp_path;
mod turn;
mod whip;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// WebRTC from the command line.
#[derive(Debug, Parser)]
#[command(name = "ferrtc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Web app + signaling server + WHIP/WHEP broadcast + a built-in bot peer.
    Demo {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The signaling server and web app (with WHIP/WHEP broadcast) alone.
    Signal {
        /// Address to serve on.
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// A command-line peer: signaling as JSON lines on stdin/stdout, or in a
    /// room of a signaling server.
    #[command(after_help = FIFO_HELP)]
    Peer {
        /// Signaling: `stdio` (JSON lines on stdin/stdout) or the WebSocket
        /// of a `ferrtc signal`/`ferrtc demo`, `ws://HOST:PORT/ws`.
        #[arg(long, default_value = SIGNAL_STDIO)]
        signal: String,
        #[command(flatten)]
        room: RoomArgs,
        /// The user to call (this peer makes the offer).
        #[arg(long, value_name = "NAME")]
        call: Option<String>,
        /// Create the offer instead of answering (stdio).
        #[arg(long)]
        offer: bool,
        /// A data channel to create when offering (repeatable; default `data`).
        #[arg(long = "channel", value_name = "LABEL")]
        channels: Vec<String>,
        /// Send every received message back on its channel, same type.
        #[arg(long)]
        echo: bool,
        /// STUN or TURN server URL, `stun:HOST:PORT` or
        /// `turn:HOST:PORT[?transport=udp|tcp]` (repeatable).
        #[arg(long = "ice-server", value_name = "URL")]
        ice_servers: Vec<String>,
        /// Username of the `--ice-server`s (W3C `RTCIceServer.username`).
        #[arg(long, value_name = "U")]
        ice_username: Option<String>,
        /// Credential of the `--ice-server`s (W3C `RTCIceServer.credential`).
        #[arg(long, value_name = "C")]
        ice_credential: Option<String>,
        /// Use relayed candidates only (W3C `iceTransportPolicy: "relay"`).
        #[arg(long)]
        relay_only: bool,
        /// Send a media file as a track, paced at its rate and looped
        /// (repeatable): IVF (VP8, VP9, AV1), Ogg Opus, H.264 Annex B
        /// (`.h264`, `.264`); `test-pattern` (VP8 colour bars, 640x480,
        /// 30 fps) and `tone` (440 Hz Opus) with the `codecs` feature.
        #[arg(long = "play", value_name = "FILE|test-pattern|tone")]
        play: Vec<PathBuf>,
        /// Write every received track to DIR/track-<mid>.ivf, .ogg or .h264.
        // The text is `--help`'s, as it is: `<mid>` is no HTML tag.
        #[allow(rustdoc::invalid_html_tags)]
        #[arg(long, value_name = "DIR")]
        record: Option<PathBuf>,
        /// Send these DTMF tones (0-9 A-D # * and `,` for a pause) on the
        /// first audio sender once connected; received tones are logged
        /// on stderr as `dtmf received: X`.
        #[arg(long, value_name = "TONES")]
        dtmf: Option<String>,
        /// Write a PNG still of the first VP8 picture decoded from any
        /// received video track, and go on (needs the `codecs` feature).
        #[arg(long, value_name = "FILE.png")]
        snapshot: Option<PathBuf>,
    },
    /// Send a file over a data channel.
    Send {
        /// The file.
        file: PathBuf,
        /// Signaling: `stdio` or `ws://HOST:PORT/ws` (then `--name` and
        /// `--call`).
        #[arg(long)]
        signal: String,
        #[command(flatten)]
        room: RoomArgs,
        /// The receiver's name in the room (the sender calls).
        #[arg(long, value_name = "NAME")]
        call: Option<String>,
    },
    /// Receive a file over a data channel.
    Recv {
        /// Directory to write into.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Signaling: `stdio` or `ws://HOST:PORT/ws` (then `--name`; the
        /// sender calls).
        #[arg(long)]
        signal: String,
        #[command(flatten)]
        room: RoomArgs,
    },
    /// Loopback benchmark: peer connection pairs in one process.
    Bench {
        /// Payload bytes moved over each pair.
        #[arg(long, default_value_t = 64 * 1024 * 1024, conflicts_with = "media")]
        bytes: u64,
        /// Size of each message.
        #[arg(long, default_value_t = 16 * 1024, conflicts_with = "media")]
        message_size: usize,
        /// Number of connection pairs (with --media: receivers, default 10).
        #[arg(long)]
        connections: Option<usize>,
        /// Media forwarding instead: one sender's 2.5 Mbit/s video and
        /// audio forwarded to N receivers over loopback.
        #[arg(long)]
        media: bool,
        /// Seconds of media stream (with --media).
        #[arg(long, default_value_t = 10, requires = "media")]
        secs: u64,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// A TURN server (RFC 8656) on UDP, TCP and TLS.
    #[command(after_help = turn::AFTER_HELP)]
    Turn {
        /// UDP and TCP listener (repeatable; default 0.0.0.0:3478).
        #[arg(long = "listen", value_name = "ADDR")]
        listen: Vec<SocketAddr>,
        /// TLS listener (`turns:`); needs --cert and --key.
        #[arg(long, value_name = "ADDR")]
        tls_listen: Option<SocketAddr>,
        /// Certificate chain (PEM) of the TLS listener.
        #[arg(long, value_name = "PEM")]
        cert: Option<PathBuf>,
        /// Private key (PEM) of the TLS listener.
        #[arg(long, value_name = "PEM")]
        key: Option<PathBuf>,
        /// Realm of the long-term credentials.
        #[arg(long, value_name = "R", default_value = turn::DEFAULT_REALM)]
        realm: String,
        /// Users file: one `name:password` per line.
        #[arg(long, value_name = "FILE")]
        users: Option<PathBuf>,
        /// Shared secret of the TURN REST API: username `expiry:name`,
        /// password base64(HMAC-SHA1(secret, username)).
        #[arg(long, value_name = "S")]
        secret: Option<String>,
        /// Address relay sockets bind to (default: the listen address, or
        /// this host's outbound address for a wildcard listen address).
        #[arg(long, value_name = "IP")]
        relay_ip: Option<IpAddr>,
        /// Relay to loopback peers (127.0.0.0/8, ::1).
        #[arg(long)]
        allow_loopback: bool,
        /// Relay to private and link-local peers (RFC 1918, fc00::/7, ...).
        #[arg(long)]
        allow_private: bool,
        /// Serve Prometheus counters at http://ADDR/metrics.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<SocketAddr>,
    },
}

/// Options of `demo` and `signal`.
#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// Run as one node of a cluster sharing rooms through this Redis,
    /// `redis://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Accept only joins with a token signed with this secret
    /// (`/ws?token=`; format in the ferrtc-signal docs).
    #[arg(long, value_name = "S")]
    secret: Option<String>,
}

/// The room options that go with `--signal ws://...`.
#[derive(Debug, clap::Args)]
struct RoomArgs {
    /// The name to join the room with.
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// The room to join (default: the server's default room).
    #[arg(long, value_name = "R")]
    room: Option<String>,
}

/// JSON lines on stdin/stdout.
const SIGNAL_STDIO: &str = "stdio";

/// Reads `--signal` and the room options that go with it; `Err` is the
/// usage error to print (exit code 2).
fn signal_target(
    signal: &str,
    room: RoomArgs,
    call: Option<String>,
) -> Result<signal::Target, String> {
    if signal == SIGNAL_STDIO {
        if room.name.is_some() || room.room.is_some() || call.is_some() {
            return Err("--name, --room and --call go with --signal ws://HOST:PORT/ws".into());
        }
        return Ok(signal::Target::Stdio);
    }
    if signal.starts_with("wss://") {
        return Err("--signal wss:// (TLS) is not supported; use ws://".into());
    }
    if !signal.starts_with("ws://") {
        return Err(format!(
            "--signal {signal:?}: expected `stdio` or ws://HOST:PORT/ws"
        ));
    }
    let Some(name) = room.name else {
        return Err("--signal ws://... needs --name".into());
    };
    ferrtc_signal::validate_name(&name).map_err(|e| format!("--name {name:?}: {e}"))?;
    if let Some(r) = &room.room {
        ferrtc_signal::validate_room(r).map_err(|e| format!("--room {r:?}: {e}"))?;
    }
    if let Some(c) = &call {
        ferrtc_signal::validate_name(c).map_err(|e| format!("--call {c:?}: {e}"))?;
        if *c == name {
            return Err(format!("--call {c:?} is this peer's own --name"));
        }
    }
    Ok(signal::Target::Server(signal::Room {
        url: signal.to_owned(),
        name,
        room: room.room,
        call,
    }))
}

fn usage(message: &str) -> ExitCode {
    eprintln!("ferrtc: {message}");
    ExitCode::from(UNSUPPORTED)
}

/// How two `peer`s are joined through two FIFOs (the second opens its
/// output first: each open of a FIFO waits for the other end).
const FIFO_HELP: &str = "Two peers joined through two FIFOs:\n  \
    mkfifo a b; ferrtc peer --offer --echo <a >b & ferrtc peer >a <b";

/// Exit code of a value that is not supported (as for a usage error).
const UNSUPPORTED: u8 = 2;

/// Where `demo` and `signal` listen unless told otherwise.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

fn exit_code(result: Result<(), demo::BoxError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrtc: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRTC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ferrtc=info,ferrtc_cli=info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrtc: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Turn {
            listen,
            tls_listen,
            cert,
            key,
            realm,
            users,
            secret,
            relay_ip,
            allow_loopback,
            allow_private,
            metrics,
        } => {
            let opts = turn::TurnOptions {
                listen,
                tls_listen,
                cert,
                key,
                realm,
                users,
                secret,
                relay_ip,
                allow_loopback,
                allow_private,
                metrics,
            };
            if let Err(turn::UsageError(e)) = turn::check(&opts) {
                eprintln!("ferrtc: {e}");
                return ExitCode::from(UNSUPPORTED);
            }
            return exit_code(runtime.block_on(turn::run(opts)));
        }
        Command::Demo { listen, server } => {
            let options = demo::ServerOptions {
                redis: server.redis,
                secret: server.secret,
            };
            return exit_code(runtime.block_on(demo::demo(listen, options)));
        }
        Command::Signal { listen, server } => {
            let listen = listen.unwrap_or(DEFAULT_LISTEN);
            let options = demo::ServerOptions {
                redis: server.redis,
                secret: server.secret,
            };
            return exit_code(runtime.block_on(demo::signal(listen, options)));
        }
        Command::Send {
            file,
            signal,
            room,
            call,
        } => {
            let target = match signal_target(&signal, room, call) {
                Ok(t) => t,
                Err(e) => return usage(&e),
            };
            if matches!(&target, signal::Target::Server(r) if r.call.is_none()) {
                return usage("send --signal ws://... needs --call NAME (the receiver)");
            }
            runtime.block_on(file::send(file, peer::PeerOptions::new(target)))
        }
        Command::Recv { out, signal, room } => {
            let target = match signal_target(&signal, room, None) {
                Ok(t) => t,
                Err(e) => return usage(&e),
            };
            let dir = out.unwrap_or_else(|| PathBuf::from("."));
            runtime.block_on(file::recv(dir, peer::PeerOptions::new(target)))
        }
        Command::Peer {
            signal,
            room,
            call,
            offer,
            channels,
            echo,
            ice_servers,
            ice_username,
            ice_credential,
            relay_only,
            play,
            record,
            dtmf,
            snapshot,
        } => {
            if let Some(tones) = &dtmf
                && let Err(c) = dtmf::check(tones)
            {
                if tones.is_empty() {
                    eprintln!("ferrtc: --dtmf needs at least one tone (0-9 A-D # * ,)");
                } else {
                    eprintln!("ferrtc: --dtmf {tones:?}: {c:?} is not a DTMF tone (0-9 A-D # * ,)");
                }
                return ExitCode::from(UNSUPPORTED);
            }
            let mut files = Vec::new();
            for path in &play {
                if let Some(name) = path.to_str().filter(|p| play::GENERATED.contains(p)) {
                    #[cfg(feature = "codecs")]
                    if let Some(f) = play::generated(path) {
                        files.push(f);
                        continue;
                    }
                    return usage(&format!(
                        "--play {name} needs ferrtc built with the `codecs` feature \
                         (cargo build --features codecs; libvpx-dev and libopus-dev)"
                    ));
                }
                match play::load(path) {
                    Ok(f) => files.push(f),
                    Err(play::LoadError::Unsupported(e)) => {
                        eprintln!("ferrtc: --play {e}");
                        return ExitCode::from(UNSUPPORTED);
                    }
                    Err(play::LoadError::Bad(e)) => {
                        eprintln!("ferrtc: --play {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            if snapshot.is_some() && cfg!(not(feature = "codecs")) {
                return usage(
                    "--snapshot needs ferrtc built with the `codecs` feature \
                     (cargo build --features codecs; libvpx-dev and libopus-dev)",
                );
            }
            if let Some(dir) = &record
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                eprintln!("ferrtc: --record {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            // The still is written long after the start: a directory that
            // is not there is said now (the --record one exists by here).
            if let Some(path) = &snapshot
                && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                return usage(&format!(
                    "--snapshot {}: the directory {} does not exist",
                    path.display(),
                    dir.display()
                ));
            }
            let target = match signal_target(&signal, room, call) {
                Ok(t) => t,
                Err(e) => return usage(&e),
            };
            let offer = match &target {
                signal::Target::Stdio => offer,
                signal::Target::Server(r) if offer && r.call.is_none() => {
                    return usage("with --signal ws://..., the caller is the one with --call NAME");
                }
                signal::Target::Server(r) => r.call.is_some(),
            };
            runtime.block_on(peer::run(peer::PeerOptions {
                signal: target,
                offer,
                channels,
                echo,
                ice_servers,
                ice_username,
                ice_credential,
                relay_only,
                play: files,
                record,
                dtmf,
                snapshot,
            }))
        }
        Command::Bench {
            bytes,
            message_size,
            connections,
            media,
            secs,
            json,
        } => runtime.block_on(bench::run(bench::BenchOptions {
            bytes,
            message_size,
            connections: connections.unwrap_or(if media { 10 } else { 1 }),
            media,
            secs,
            json,
        })),
    };
    // A read of stdin may still be blocked in tokio's blocking pool, and it
    // cannot be cancelled: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrtc: {e}");
            ExitCode::FAILURE
        }
    }
}
