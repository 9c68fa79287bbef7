//! The bot seam: an in-process user of the room.
//!
//! [`bot`] makes a pair: a [`BotPort`] that goes into
//! [`crate::SignalConfig::with_bot`], and a [`BotHandle`] that the bot's own
//! task keeps. Through the handle the bot is a user like any browser: it is in
//! the user list, it receives the [`ServerMessage`]s a WebSocket client would
//! (`users`, relayed offers, answers, candidates, `bye` when a caller hangs up
//! or disconnects, `error` when one of its sends was refused), and it sends
//! [`Signal`]s to a user by name. The server never waits for the bot, nor
//! drops it as a slow client: if its queue is full, a signal is refused to
//! its sender with `rate-limited` (who may send it again), and what no
//! sender can be asked to send again (the `bye` of a caller that left) is
//! held for the bot, up to 64 messages, past which it is dropped and logged.
//!
//! The bot stays in the room while its [`BotHandle`] lives; dropping it
//! removes the bot, and its callers get a `bye`.
//!
//! ```
//! use ferrtc_signal::{ServerMessage, Signal, SignalConfig, bot};
//!
//! let (port, handle) = bot("ferrtc-bot", 256).unwrap();
//! let config = SignalConfig::default().with_bot(port);
//! # drop((config, handle));
//! # async fn run(mut handle: ferrtc_signal::BotHandle) {
//! // In the bot's task: answer every offer (a real bot asks its
//! // PeerConnection for the answer SDP).
//! while let Some(message) = handle.recv().await {
//!     if let ServerMessage::Signal { from, signal: Signal::Offer { sdp } } = message {
//!         let answer = Signal::Answer { sdp: sdp.replace("a=setup:actpass", "a=setup:active") };
//!         if handle.send(&from, answer).await.is_err() {
//!             break; // the server stopped
//!         }
//!     }
//! }
//! # }
//! ```

use tokio::sync::mpsc;

use crate::error::SignalError;
use crate::protocol::{ServerMessage, Signal, validate_name};

/// Makes a bot named `name` with a queue of `capacity` messages each way
/// (at least 1).
pub fn bot(name: &str, capacity: usize) -> Result<(BotPort, BotHandle), SignalError> {
    validate_name(name)?;
    let capacity = capacity.max(1);
    let (to_bot, events) = mpsc::channel(capacity);
    let (commands, from_bot) = mpsc::channel(capacity);
    let port = BotPort {
        name: name.to_owned(),
        to_bot,
        from_bot,
    };
    let handle = BotHandle {
        events,
        sender: BotSender {
            name: name.to_owned(),
            commands,
        },
    };
    Ok((port, handle))
}

/// The server's end of a bot: hand it to [`crate::SignalConfig::with_bot`].
#[derive(Debug)]
pub struct BotPort {
    pub(crate) name: String,
    pub(crate) to_bot: mpsc::Sender<ServerMessage>,
    pub(crate) from_bot: mpsc::Receiver<BotCommand>,
}

impl BotPort {
    /// The bot's user name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A signal from the bot to a user.
#[derive(Debug)]
pub(crate) struct BotCommand {
    pub(crate) target: String,
    pub(crate) signal: Signal,
}

/// The bot's end: receive what the room sends it, send signals to users.
#[derive(Debug)]
pub struct BotHandle {
    events: mpsc::Receiver<ServerMessage>,
    sender: BotSender,
}

impl BotHandle {
    /// The bot's user name.
    pub fn name(&self) -> &str {
        &self.sender.name
    }

    /// The next message for the bot; `None` once the server has stopped.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        self.events.recv().await
    }

    /// Sends `signal` to the user named `target` (relayed with
    /// `"from": <bot name>`). A refusal (unknown target, ...) comes back as a
    /// [`ServerMessage::Error`].
    pub async fn send(&self, target: &str, signal: Signal) -> Result<(), ServerGone> {
        self.sender.send(target, signal).await
    }

    /// A clonable sender, for per-call tasks (trickled candidates).
    pub fn sender(&self) -> BotSender {
        self.sender.clone()
    }
}

/// Sends signals on behalf of a bot; clone it freely.
#[derive(Debug, Clone)]
pub struct BotSender {
    name: String,
    commands: mpsc::Sender<BotCommand>,
}

impl BotSender {
    /// See [`BotHandle::send`].
    pub async fn send(&self, target: &str, signal: Signal) -> Result<(), ServerGone> {
        self.commands
            .send(BotCommand {
                target: target.to_owned(),
                signal,
            })
            .await
            .map_err(|_| ServerGone)
    }

    /// The bot's user name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The server that the bot was seated in has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signaling server has stopped")]
pub struct ServerGone;
