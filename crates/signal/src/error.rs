//! Errors of the signaling protocol, each with the code sent back to the client.

use serde::{Deserialize, Serialize};

/// Why a client's message was refused: the `code` of an `{"type":"error"}`
/// message (kebab-case on the wire, e.g. `"unknown-target"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The text frame is not JSON.
    BadJson,
    /// The JSON is not an object, or a field is missing or of the wrong type.
    BadMessage,
    /// The `type` field names no message of this protocol.
    UnknownType,
    /// The message is larger than the configured limit.
    TooLarge,
    /// A binary WebSocket frame: the protocol is text only.
    Binary,
    /// A signal was sent before `join`.
    NotJoined,
    /// A second `join` on the same connection.
    AlreadyJoined,
    /// The name is empty, too long, or has characters that are not allowed.
    BadName,
    /// Another user has that name.
    NameTaken,
    /// No user has the name given as `target`.
    UnknownTarget,
    /// The `target` is the sender itself.
    SelfTarget,
    /// The room has as many users as the configuration allows.
    RoomFull,
    /// The room named in `/ws?room=` is not a valid room name.
    BadRoom,
    /// The join token is missing, malformed, expired or not for this room
    /// and name (see [`crate::token`]); the server closes the connection.
    BadToken,
    /// The client sends faster than its rate limit allows; a client that
    /// keeps on is disconnected.
    RateLimited,
    /// The target is on another node that cannot be reached now (the
    /// cluster's Redis is down).
    Unavailable,
    /// An error code this version does not know (from a newer server).
    #[serde(other)]
    Other,
}

/// A refused signaling message, with the context needed to explain it.
///
/// Each variant maps to one [`ErrorCode`]; the server sends
/// `{"type":"error","code":..,"message":..}` back to the client and keeps the
/// connection open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The text frame is not JSON.
    #[error("malformed JSON: {0}")]
    BadJson(String),
    /// The JSON does not have the shape of a message.
    #[error("bad message: {0}")]
    BadMessage(String),
    /// The `type` field names no message of this protocol.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// The message is over the size limit.
    #[error("message of {len} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// Size of the message received.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A binary frame arrived: the protocol is JSON text only.
    #[error("binary frames are not part of the signaling protocol; send JSON text")]
    Binary,
    /// A signal was sent before `join`.
    #[error("join with a name before sending signals")]
    NotJoined,
    /// A second `join` on a connection that has a name.
    #[error("already joined as {name:?}")]
    AlreadyJoined {
        /// The name this connection already has.
        name: String,
    },
    /// The name is not acceptable.
    #[error("bad name: {reason}")]
    BadName {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another user has the name.
    #[error("the name {name:?} is taken")]
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// No user has that name.
    #[error("no user named {name:?}")]
    UnknownTarget {
        /// The target asked for.
        name: String,
    },
    /// The target is the sender.
    #[error("a message cannot be sent to oneself")]
    SelfTarget,
    /// The room is full.
    #[error("the room is full ({max} users)")]
    RoomFull {
        /// The configured maximum.
        max: usize,
    },
    /// The room name is not acceptable.
    #[error("bad room name: {reason}")]
    BadRoom {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The join token was refused.
    #[error("join token refused: {0}")]
    BadToken(#[from] crate::token::TokenError),
    /// Over the per-client rate limit.
    #[error("too many messages; retry in {retry_after_ms} ms")]
    RateLimited {
        /// How long until the next message is accepted.
        retry_after_ms: u64,
    },
    /// The target is on a node that cannot be reached now.
    #[error("{name:?} is on another node, which cannot be reached now")]
    Unavailable {
        /// The target asked for.
        name: String,
    },
}

impl SignalError {
    /// The wire code of this error as text (`"bad-token"`), as used in close
    /// frames.
    pub fn code_str(&self) -> &'static str {
        match self.code() {
            ErrorCode::BadJson => "bad-json",
            ErrorCode::BadMessage => "bad-message",
            ErrorCode::UnknownType => "unknown-type",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::Binary => "binary",
            ErrorCode::NotJoined => "not-joined",
            ErrorCode::AlreadyJoined => "already-joined",
            ErrorCode::BadName => "bad-name",
            ErrorCode::NameTaken => "name-taken",
            ErrorCode::UnknownTarget => "unknown-target",
            ErrorCode::SelfTarget => "self-target",
            ErrorCode::RoomFull => "room-full",
            ErrorCode::BadRoom => "bad-room",
            ErrorCode::BadToken => "bad-token",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Other => "other",
        }
    }

    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadJson(_) => ErrorCode::BadJson,
            Self::BadMessage(_) => ErrorCode::BadMessage,
            Self::UnknownType(_) => ErrorCode::UnknownType,
            Self::TooLarge { .. } => ErrorCode::TooLarge,
            Self::Binary => ErrorCode::Binary,
            Self::NotJoined => ErrorCode::NotJoined,
            Self::AlreadyJoined { .. } => ErrorCode::AlreadyJoined,
            Self::BadName { .. } => ErrorCode::BadName,
            Self::NameTaken { .. } => ErrorCode::NameTaken,
            Self::UnknownTarget { .. } => ErrorCode::UnknownTarget,
            Self::SelfTarget => ErrorCode::SelfTarget,
            Self::RoomFull { .. } => ErrorCode::RoomFull,
            Self::BadRoom { .. } => ErrorCode::BadRoom,
            Self::BadToken(_) => ErrorCode::BadToken,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
        }
    }
}
