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
}

impl SignalError {
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
        }
    }
}
