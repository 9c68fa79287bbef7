//! The `ferrtc` command (contract in DESIGN.md "The `ferrtc` command").

mod bench;
mod demo;
mod file;
mod peer;
mod signal;

use std::net::SocketAddr;
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
    /// Web app + signaling server + a built-in bot peer.
    Demo {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// The signaling server alone.
    Signal {
        /// Address to serve on.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// A command-line peer: signaling as JSON lines on stdin/stdout.
    Peer {
        /// `stdio` or a signaling server URL.
        #[arg(long, default_value = "stdio")]
        signal: String,
        /// Create the offer instead of answering.
        #[arg(long)]
        offer: bool,
        /// A data channel to create when offering (repeatable; default `data`).
        #[arg(long = "channel", value_name = "LABEL")]
        channels: Vec<String>,
        /// Send every received message back on its channel, same type.
        #[arg(long)]
        echo: bool,
        /// STUN/TURN server URL (repeatable).
        #[arg(long = "ice-server", value_name = "URL")]
        ice_servers: Vec<String>,
        /// TURN username.
        #[arg(long, value_name = "U")]
        ice_username: Option<String>,
        /// TURN credential.
        #[arg(long, value_name = "C")]
        ice_credential: Option<String>,
        /// Relayed candidates only (iceTransportPolicy: relay).
        #[arg(long)]
        relay_only: bool,
        /// Media file to send as a track (repeatable).
        #[arg(long = "play", value_name = "FILE")]
        play: Vec<PathBuf>,
        /// Directory to record received tracks into.
        #[arg(long, value_name = "DIR")]
        record: Option<PathBuf>,
    },
    /// Send a file over a data channel.
    Send {
        /// The file.
        file: PathBuf,
        /// `stdio` or a signaling server URL.
        #[arg(long)]
        signal: String,
    },
    /// Receive a file over a data channel.
    Recv {
        /// Directory to write into.
        #[arg(long)]
        out: Option<PathBuf>,
        /// `stdio` or a signaling server URL.
        #[arg(long)]
        signal: String,
    },
    /// Loopback benchmark: peer connection pairs in one process.
    Bench {
        /// Payload bytes moved over each pair.
        #[arg(long, default_value_t = 64 * 1024 * 1024)]
        bytes: u64,
        /// Size of each message.
        #[arg(long, default_value_t = 16 * 1024)]
        message_size: usize,
        /// Number of connection pairs.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// TURN server.
    Turn {
        /// Address to listen on (repeatable).
        #[arg(long)]
        listen: Vec<SocketAddr>,
        /// File of `user:password` lines.
        #[arg(long)]
        users: Option<PathBuf>,
        /// Shared secret for time-limited credentials.
        #[arg(long)]
        secret: Option<String>,
    },
}

/// Exit code of a command or option that is declared but not built yet.
const NOT_IMPLEMENTED: u8 = 2;

/// Where `demo` and `signal` listen unless told otherwise.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

fn not_implemented(what: &str) -> ExitCode {
    eprintln!("ferrtc: {what} is not implemented yet");
    ExitCode::from(NOT_IMPLEMENTED)
}

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
        Command::Demo { listen } => return exit_code(runtime.block_on(demo::demo(listen))),
        Command::Signal { listen } => {
            let listen = listen.unwrap_or(DEFAULT_LISTEN);
            return exit_code(runtime.block_on(demo::signal(listen)));
        }
        Command::Turn { .. } => return not_implemented("`ferrtc turn`"),
        Command::Send { file, signal } => {
            if signal != "stdio" {
                return not_implemented("`--signal URL` (only `--signal stdio`)");
            }
            runtime.block_on(file::send(file, peer::PeerOptions::default()))
        }
        Command::Recv { out, signal } => {
            if signal != "stdio" {
                return not_implemented("`--signal URL` (only `--signal stdio`)");
            }
            let dir = out.unwrap_or_else(|| PathBuf::from("."));
            runtime.block_on(file::recv(dir, peer::PeerOptions::default()))
        }
        Command::Peer {
            signal,
            offer,
            channels,
            echo,
            ice_servers,
            ice_username,
            ice_credential,
            relay_only,
            play,
            record,
        } => {
            if signal != "stdio" {
                return not_implemented("`--signal URL` (only `--signal stdio`)");
            }
            if !play.is_empty() || record.is_some() {
                return not_implemented("media (`--play`, `--record`)");
            }
            // Relayed candidates need the TURN client, which is not there yet.
            if relay_only {
                return not_implemented("`--relay-only` (TURN)");
            }
            if ice_servers.iter().any(|u| u.starts_with("turn")) {
                return not_implemented("TURN servers in `--ice-server`");
            }
            runtime.block_on(peer::run(peer::PeerOptions {
                offer,
                channels,
                echo,
                ice_servers,
                ice_username,
                ice_credential,
                relay_only,
            }))
        }
        Command::Bench {
            bytes,
            message_size,
            connections,
            json,
        } => runtime.block_on(bench::run(bench::BenchOptions {
            bytes,
            message_size,
            connections,
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
