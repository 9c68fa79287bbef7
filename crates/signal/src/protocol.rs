//! The JSON messages of the signaling protocol, both directions.
//!
//! Parsing goes through [`serde_json::Value`] so that every refusal has a
//! precise [`SignalError`], and writing builds only the fields of the
//! protocol: whatever else a client put in a message is never relayed.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ErrorCode, SignalError};

/// Longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// A signaling payload in the browsers' own JSON forms
/// (`RTCSessionDescriptionInit`, `RTCIceCandidateInit`, and `bye`), so a page
/// can hand it to `RTCPeerConnection` unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Signal {
    /// `{"type":"offer","sdp":".."}`: an SDP offer (RFC 8829 section 5.2).
    Offer {
        /// The session description.
        sdp: String,
    },
    /// `{"type":"answer","sdp":".."}`: an SDP answer (RFC 8829 section 5.3).
    Answer {
        /// The session description.
        sdp: String,
    },
    /// `{"type":"candidate","candidate":"candidate:..","sdpMid":"0","sdpMLineIndex":0}`:
    /// a trickled ICE candidate (RFC 8838); an empty `candidate` means end of
    /// candidates.
    Candidate {
        /// The `candidate-attribute` line, or empty for end of candidates.
        /// Missing or `null` reads as empty: `RTCIceCandidateInit` (W3C
        /// webrtc-pc §4.8.1.2) defaults it to "", the end-of-candidates
        /// indication of RFC 8838 §4.1, as [`Signal::parse`] reads it.
        #[serde(default, deserialize_with = "null_as_empty")]
        candidate: String,
        /// `sdpMid` of the media section, if known.
        #[serde(rename = "sdpMid", default)]
        sdp_mid: Option<String>,
        /// `sdpMLineIndex` of the media section, if known.
        #[serde(rename = "sdpMLineIndex", default)]
        sdp_m_line_index: Option<u16>,
        /// `usernameFragment` of the ICE generation, if given.
        #[serde(rename = "usernameFragment", default)]
        username_fragment: Option<String>,
    },
    /// `{"type":"bye"}`: hang up.
    Bye {},
}

/// A string member that may be `null`, read as "" (see
/// the `candidate` member of [`Signal::Candidate`]).
fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

impl Signal {
    /// The value of the `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Offer { .. } => "offer",
            Self::Answer { .. } => "answer",
            Self::Candidate { .. } => "candidate",
            Self::Bye {} => "bye",
        }
    }

    /// Writes the fields of this payload, `type` included, into `map`.
    pub(crate) fn write_fields(&self, map: &mut Map<String, Value>) {
        map.insert("type".into(), self.kind().into());
        match self {
            Self::Offer { sdp } | Self::Answer { sdp } => {
                map.insert("sdp".into(), sdp.as_str().into());
            }
            Self::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
                username_fragment,
            } => {
                map.insert("candidate".into(), candidate.as_str().into());
                map.insert("sdpMid".into(), sdp_mid.clone().into());
                map.insert("sdpMLineIndex".into(), (*sdp_m_line_index).into());
                if let Some(ufrag) = username_fragment {
                    map.insert("usernameFragment".into(), ufrag.as_str().into());
                }
            }
            Self::Bye {} => {}
        }
    }

    /// This payload alone as JSON text, in the browsers' own form (the README's "The `ferrtc` command").
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        self.write_fields(&mut map);
        Value::Object(map).to_string()
    }

    /// Parses one payload on its own, as `ferrtc peer` reads it from a stdio
    /// line: `{"type":"offer"|"answer","sdp":..}`, `{"type":"candidate",..}`
    /// (the fields of `RTCIceCandidateInit`; a missing or null `candidate`
    /// means end of candidates, RFC 8838 §4.1) or `{"type":"bye"}`. Fields
    /// of other protocols are ignored. Never panics; the error says what is
    /// wrong.
    pub fn parse(text: &str) -> Result<Self, SignalError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| SignalError::BadJson(e.to_string()))?;
        let kind = message_type(&value)?;
        match kind.as_str() {
            "offer" => Ok(Self::Offer {
                sdp: string_field(&value, "sdp")?,
            }),
            "answer" => Ok(Self::Answer {
                sdp: string_field(&value, "sdp")?,
            }),
            "candidate" => {
                let index = match value.get("sdpMLineIndex") {
                    None | Some(Value::Null) => None,
                    Some(n) => Some(n.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or_else(
                        || {
                            SignalError::BadMessage(
                                "field `sdpMLineIndex` is not an integer 0..=65535".into(),
                            )
                        },
                    )?),
                };
                Ok(Self::Candidate {
                    candidate: optional_string(&value, "candidate")?.unwrap_or_default(),
                    sdp_mid: optional_string(&value, "sdpMid")?,
                    sdp_m_line_index: index,
                    username_fragment: optional_string(&value, "usernameFragment")?,
                })
            }
            "bye" => Ok(Self::Bye {}),
            _ => Err(SignalError::UnknownType(kind)),
        }
    }

    /// Reads a payload from an object whose `type` is one of the signal types.
    pub(crate) fn from_object(object: Value) -> Result<Self, SignalError> {
        serde_json::from_value(object).map_err(|e| SignalError::BadMessage(e.to_string()))
    }
}

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `{"type":"join","name":"alice"}`: take a name in the room.
    Join {
        /// The name asked for.
        name: String,
    },
    /// `{"type":"offer"|"answer"|"candidate"|"bye","target":"bob",..}`: a
    /// payload to relay to the user named `target`.
    Signal {
        /// Name of the user to relay to.
        target: String,
        /// The payload.
        signal: Signal,
    },
}

impl ClientMessage {
    /// Parses one WebSocket text frame. Never panics; the error says what to
    /// send back.
    pub fn parse(text: &str) -> Result<Self, SignalError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| SignalError::BadJson(e.to_string()))?;
        let kind = message_type(&value)?;
        match kind.as_str() {
            "join" => Ok(Self::Join {
                name: string_field(&value, "name")?,
            }),
            "offer" | "answer" | "candidate" | "bye" => {
                let target = string_field(&value, "target")?;
                Ok(Self::Signal {
                    target,
                    signal: Signal::from_object(value)?,
                })
            }
            _ => Err(SignalError::UnknownType(kind)),
        }
    }

    /// This message as JSON text.
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        match self {
            Self::Join { name } => {
                map.insert("type".into(), "join".into());
                map.insert("name".into(), name.as_str().into());
            }
            Self::Signal { target, signal } => {
                signal.write_fields(&mut map);
                map.insert("target".into(), target.as_str().into());
            }
        }
        Value::Object(map).to_string()
    }
}

/// A message from the server to a client (or to a [`crate::BotHandle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// `{"type":"joined","name":"alice"}`: the join succeeded.
    Joined {
        /// The name now held.
        name: String,
    },
    /// `{"type":"users","users":["alice","bob"]}`: everyone in the room,
    /// sorted; sent on connect and whenever it changes.
    Users {
        /// The names.
        users: Vec<String>,
    },
    /// `{"type":"offer"|"answer"|"candidate"|"bye","from":"alice",..}`: a
    /// payload relayed from the user `from`. A `bye` also comes when `from`
    /// disconnected after exchanging signals with this client.
    Signal {
        /// Name of the sender.
        from: String,
        /// The payload.
        signal: Signal,
    },
    /// `{"type":"error","code":"unknown-target","message":".."}`: a message
    /// was refused; the connection stays open.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
}

impl From<&SignalError> for ServerMessage {
    fn from(error: &SignalError) -> Self {
        Self::Error {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl ServerMessage {
    /// This message as JSON text.
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        match self {
            Self::Joined { name } => {
                map.insert("type".into(), "joined".into());
                map.insert("name".into(), name.as_str().into());
            }
            Self::Users { users } => {
                map.insert("type".into(), "users".into());
                map.insert("users".into(), users.clone().into());
            }
            Self::Signal { from, signal } => {
                signal.write_fields(&mut map);
                map.insert("from".into(), from.as_str().into());
            }
            Self::Error { code, message } => {
                map.insert("type".into(), "error".into());
                map.insert(
                    "code".into(),
                    serde_json::to_value(code).unwrap_or(Value::Null),
                );
                map.insert("message".into(), message.as_str().into());
            }
        }
        Value::Object(map).to_string()
    }

    /// Parses a message from the server (for Rust clients of the protocol).
    pub fn parse(text: &str) -> Result<Self, SignalError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| SignalError::BadJson(e.to_string()))?;
        let kind = message_type(&value)?;
        match kind.as_str() {
            "joined" => Ok(Self::Joined {
                name: string_field(&value, "name")?,
            }),
            "users" => {
                let users = value
                    .get("users")
                    .cloned()
                    .ok_or_else(|| SignalError::BadMessage("missing field `users`".into()))?;
                let users = serde_json::from_value(users)
                    .map_err(|e| SignalError::BadMessage(e.to_string()))?;
                Ok(Self::Users { users })
            }
            "error" => {
                let code = value.get("code").cloned().unwrap_or(Value::Null);
                Ok(Self::Error {
                    code: serde_json::from_value(code).unwrap_or(ErrorCode::Other),
                    message: string_field(&value, "message")?,
                })
            }
            "offer" | "answer" | "candidate" | "bye" => {
                let from = string_field(&value, "from")?;
                Ok(Self::Signal {
                    from,
                    signal: Signal::from_object(value)?,
                })
            }
            _ => Err(SignalError::UnknownType(kind)),
        }
    }
}

/// Checks a user name: 1 to [`MAX_NAME_CHARS`] characters, letters, digits,
/// `-`, `_`, `.` and inner spaces.
pub fn validate_name(name: &str) -> Result<(), SignalError> {
    if name.is_empty() {
        return Err(SignalError::BadName { reason: "empty" });
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(SignalError::BadName {
            reason: "longer than 32 characters",
        });
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err(SignalError::BadName {
            reason: "leading or trailing space",
        });
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ');
    if !name.chars().all(allowed) {
        return Err(SignalError::BadName {
            reason: "only letters, digits, '-', '_', '.' and spaces are allowed",
        });
    }
    Ok(())
}

/// The room of a connection that names none (`/ws` without `?room=`).
pub const DEFAULT_ROOM: &str = "default";

/// Checks a room name (from `/ws?room=NAME`): the rules of user names
/// ([`validate_name`]), refused as `bad-room`.
pub fn validate_room(room: &str) -> Result<(), SignalError> {
    validate_name(room).map_err(|e| match e {
        SignalError::BadName { reason } => SignalError::BadRoom { reason },
        other => other,
    })
}

fn message_type(value: &Value) -> Result<String, SignalError> {
    if !value.is_object() {
        return Err(SignalError::BadMessage("not a JSON object".into()));
    }
    string_field(value, "type")
}

/// A string field that may be missing or null.
fn optional_string(value: &Value, field: &str) -> Result<Option<String>, SignalError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(SignalError::BadMessage(format!(
            "field `{field}` is not a string"
        ))),
    }
}

fn string_field(value: &Value, field: &str) -> Result<String, SignalError> {
    match value.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(SignalError::BadMessage(format!(
            "field `{field}` is not a string"
        ))),
        None => Err(SignalError::BadMessage(format!("missing field `{field}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_with_target_parses_and_keeps_the_browser_form() {
        let m = ClientMessage::parse(r#"{"type":"offer","target":"bob","sdp":"v=0\r\n"}"#);
        assert_eq!(
            m,
            Ok(ClientMessage::Signal {
                target: "bob".into(),
                signal: Signal::Offer {
                    sdp: "v=0\r\n".into()
                }
            })
        );
    }

    #[test]
    fn candidate_accepts_the_fields_of_rtc_ice_candidate_to_json() {
        let text = r#"{"type":"candidate","target":"bob","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#;
        let Ok(ClientMessage::Signal { signal, .. }) = ClientMessage::parse(text) else {
            panic!("candidate did not parse");
        };
        assert_eq!(
            signal,
            Signal::Candidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: Some("abcd".into()),
            }
        );
    }

    #[test]
    fn end_of_candidates_with_null_mid_parses() {
        let text = r#"{"type":"candidate","target":"bob","candidate":"","sdpMid":null,"sdpMLineIndex":null}"#;
        assert!(ClientMessage::parse(text).is_ok());
    }

    /// `RTCIceCandidateInit` (W3C webrtc-pc §4.8.1.2) defaults `candidate`
    /// to "", the end of candidates (RFC 8838 §4.1): a page may leave it out,
    /// and the WebSocket protocol reads that form as [`Signal::parse`] does.
    #[test]
    fn a_candidate_without_the_candidate_member_is_the_browser_form() {
        let expected = Ok(ClientMessage::Signal {
            target: "bob".into(),
            signal: Signal::Candidate {
                candidate: String::new(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: None,
            },
        });
        for text in [
            r#"{"type":"candidate","target":"bob","sdpMid":"0","sdpMLineIndex":0}"#,
            r#"{"type":"candidate","target":"bob","candidate":null,"sdpMid":"0","sdpMLineIndex":0}"#,
        ] {
            assert!(Signal::parse(text).is_ok(), "{text}");
            assert_eq!(ClientMessage::parse(text), expected, "{text}");
        }
    }

    #[test]
    fn bye_ignores_extra_fields() {
        let m = ClientMessage::parse(r#"{"type":"bye","target":"bob","why":"done"}"#);
        assert_eq!(
            m,
            Ok(ClientMessage::Signal {
                target: "bob".into(),
                signal: Signal::Bye {}
            })
        );
    }

    #[test]
    fn malformed_input_gets_the_matching_error_code() {
        let cases = [
            ("{", ErrorCode::BadJson),
            ("[1,2]", ErrorCode::BadMessage),
            ("\"join\"", ErrorCode::BadMessage),
            (r#"{"name":"x"}"#, ErrorCode::BadMessage),
            (r#"{"type":7}"#, ErrorCode::BadMessage),
            (r#"{"type":"join"}"#, ErrorCode::BadMessage),
            (r#"{"type":"join","name":5}"#, ErrorCode::BadMessage),
            (r#"{"type":"offer","sdp":"x"}"#, ErrorCode::BadMessage),
            (r#"{"type":"offer","target":"b"}"#, ErrorCode::BadMessage),
            (
                r#"{"type":"candidate","target":"b","candidate":"c","sdpMLineIndex":-1}"#,
                ErrorCode::BadMessage,
            ),
            (r#"{"type":"shout","target":"b"}"#, ErrorCode::UnknownType),
        ];
        for (text, code) in cases {
            let got = ClientMessage::parse(text).map_err(|e| e.code());
            assert_eq!(got, Err(code), "input {text}");
        }
    }

    #[test]
    fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
        let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            ClientMessage::parse(&text).map_err(|e| e.code()),
            Err(ErrorCode::BadJson)
        );
    }

    #[test]
    fn relayed_signal_carries_from_and_only_protocol_fields() {
        let m = ServerMessage::Signal {
            from: "alice".into(),
            signal: Signal::Answer { sdp: "v=0".into() },
        };
        let v: Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"answer","sdp":"v=0","from":"alice"})
        );
    }

    #[test]
    fn server_messages_round_trip() {
        let messages = [
            ServerMessage::Joined { name: "a".into() },
            ServerMessage::Users {
                users: vec!["a".into(), "b".into()],
            },
            ServerMessage::Signal {
                from: "a".into(),
                signal: Signal::Candidate {
                    candidate: String::new(),
                    sdp_mid: None,
                    sdp_m_line_index: None,
                    username_fragment: None,
                },
            },
            ServerMessage::Signal {
                from: "a".into(),
                signal: Signal::Bye {},
            },
            ServerMessage::from(&SignalError::UnknownTarget { name: "z".into() }),
        ];
        for m in messages {
            assert_eq!(ServerMessage::parse(&m.to_json()), Ok(m));
        }
    }

    #[test]
    fn client_messages_round_trip() {
        let messages = [
            ClientMessage::Join {
                name: "alice".into(),
            },
            ClientMessage::Signal {
                target: "bob".into(),
                signal: Signal::Offer { sdp: "v=0".into() },
            },
        ];
        for m in messages {
            assert_eq!(ClientMessage::parse(&m.to_json()), Ok(m));
        }
    }

    #[test]
    fn signal_alone_is_the_design_form() {
        assert_eq!(Signal::Bye {}.to_json(), r#"{"type":"bye"}"#);
    }

    #[test]
    fn a_bare_payload_line_parses_in_the_browser_forms() {
        assert_eq!(
            Signal::parse(r#"{"type":"answer","sdp":"v=0\r\n"}"#),
            Ok(Signal::Answer {
                sdp: "v=0\r\n".into()
            })
        );
        // RTCIceCandidate.toJSON() of the end-of-candidates candidate, and
        // the same with the candidate left out.
        for text in [
            r#"{"type":"candidate","candidate":"","sdpMid":"0","sdpMLineIndex":0}"#,
            r#"{"type":"candidate","sdpMid":"0","sdpMLineIndex":0}"#,
        ] {
            assert_eq!(
                Signal::parse(text),
                Ok(Signal::Candidate {
                    candidate: String::new(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                    username_fragment: None,
                }),
                "{text}"
            );
        }
        assert_eq!(
            Signal::parse(r#"{"type":"bye","reason":"done"}"#),
            Ok(Signal::Bye {})
        );
    }

    #[test]
    fn a_bad_payload_line_is_an_error_with_its_code() {
        for (text, code) in [
            ("", ErrorCode::BadJson),
            ("nonsense", ErrorCode::BadJson),
            ("[]", ErrorCode::BadMessage),
            (r#"{"sdp":"x"}"#, ErrorCode::BadMessage),
            (r#"{"type":"join","name":"a"}"#, ErrorCode::UnknownType),
            (r#"{"type":"offer"}"#, ErrorCode::BadMessage),
            (r#"{"type":"offer","sdp":5}"#, ErrorCode::BadMessage),
            (
                r#"{"type":"candidate","candidate":"x","sdpMLineIndex":-1}"#,
                ErrorCode::BadMessage,
            ),
            (
                r#"{"type":"candidate","candidate":"x","sdpMLineIndex":65536}"#,
                ErrorCode::BadMessage,
            ),
            (r#"{"type":"candidate","sdpMid":0}"#, ErrorCode::BadMessage),
        ] {
            assert_eq!(
                Signal::parse(text).map_err(|e| e.code()),
                Err(code),
                "{text}"
            );
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("alice").is_ok());
        assert!(validate_name("ferrtc-bot").is_ok());
        assert!(validate_name("Zoë 2").is_ok());
        for bad in ["", " a", "a ", "a\u{0}", "<script>", &"x".repeat(33)] {
            assert_eq!(
                validate_name(bad).map_err(|e| e.code()),
                Err(ErrorCode::BadName),
                "{bad:?}"
            );
        }
    }
}
