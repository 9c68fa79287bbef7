//! STUN messages and attributes (RFC 8489): parsing, building, integrity and
//! fingerprint, with the TURN (RFC 8656) and ICE (RFC 8445) attributes.
//!
//! - [`Message::parse`] validates a datagram and gives a zero-copy view whose
//!   [`Message::attributes`] decode lazily into typed [`Attribute`]s.
//! - [`MessageBuilder`] writes a message into a caller-owned `Vec<u8>` and
//!   computes MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT.
//! - [`short_term_key`] and [`long_term_key`] turn credentials into keys
//!   (RFC 8489 §9). Strings are used as given: the OpaqueString profile
//!   (RFC 8265) is not applied, only UTF-8 is passed through.
//!
//! The parser never panics and does bounded work: at most
//! [`MAX_ATTRIBUTES`] attributes, no allocation.
#![forbid(unsafe_code)]

mod addr;
mod attribute;
pub mod attribute_type;
mod builder;
mod credentials;
mod error;
mod header;
mod message;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use addr::AddressFamily;
pub use attribute::{
    Attribute, MAX_DOMAIN_LEN, MAX_TEXT_CHARS, MAX_TEXT_LEN, MAX_USERNAME_LEN, MAX_VALUE_LEN,
    PasswordAlgorithm, PasswordAlgorithmValue, PasswordAlgorithms, UnknownAttributes,
};
pub use builder::MessageBuilder;
pub use credentials::{FINGERPRINT_XOR, long_term_key, short_term_key, userhash};
pub use error::Error;
pub use header::{Class, HEADER_LEN, MAGIC_COOKIE, Method, TransactionId, is_stun_message};
pub use message::{MAX_ATTRIBUTES, Message};
