//! The stdio signaling channel: one JSON object per line, in the browsers'
//! own JSON forms (the README's "The `ferrtc` command").

use ferrtc::{IceCandidateInit, SdpType, SessionDescription};
use ferrtc_signal::Signal;
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest signaling line accepted (an SDP with many candidates fits well).
pub const MAX_LINE: usize = 1 << 20;

/// A signaling message from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// `{"type":"offer"|"answer","sdp":"..."}`.
    Description(SessionDescription),
    /// `{"type":"candidate",...}`; an empty `candidate` means end of candidates.
    Candidate(IceCandidateInit),
    /// `{"type":"bye"}`.
    Bye,
}

/// A signaling message to the peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Outgoing {
    /// An offer.
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// An answer.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// A trickled candidate.
    Candidate {
        /// `candidate:...`, or empty for end of candidates.
        candidate: String,
        /// The m-section's mid.
        #[serde(rename = "sdpMid")]
        sdp_mid: Option<String>,
        /// The m-section's index.
        #[serde(rename = "sdpMLineIndex")]
        sdp_m_line_index: Option<u16>,
    },
}

impl Outgoing {
    /// The message for a local description.
    pub fn description(d: &SessionDescription) -> Option<Outgoing> {
        match d.kind {
            SdpType::Offer => Some(Outgoing::Offer { sdp: d.sdp.clone() }),
            SdpType::Answer => Some(Outgoing::Answer { sdp: d.sdp.clone() }),
            _ => None,
        }
    }

    /// The message for a local candidate.
    pub fn candidate(c: IceCandidateInit) -> Outgoing {
        Outgoing::Candidate {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_m_line_index: c.sdp_m_line_index,
        }
    }

    /// One JSON line, without the newline.
    pub fn to_line(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Parses one signaling line (the pure parser is
/// [`ferrtc_signal::Signal::parse`], where the fuzz target reaches it).
pub fn parse(line: &str) -> Result<Incoming, String> {
    Ok(match Signal::parse(line).map_err(|e| e.to_string())? {
        Signal::Offer { sdp } => Incoming::Description(SessionDescription::offer(sdp)),
        Signal::Answer { sdp } => Incoming::Description(SessionDescription::answer(sdp)),
        Signal::Candidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
            username_fragment,
        } => Incoming::Candidate(IceCandidateInit {
            candidate,
            sdp_mid,
            sdp_m_line_index,
            username_fragment,
        }),
        Signal::Bye {} => Incoming::Bye,
    })
}

/// What [`LineReader::next`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line (without its newline).
    Text(String),
    /// A line over [`MAX_LINE`] bytes or not UTF-8, skipped.
    Invalid(&'static str),
}

/// Reads lines with a length bound: a longer line is skipped whole.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    discarding: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Wraps a buffered reader.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            discarding: false,
        }
    }

    /// The next line, or `None` at end of input. Cancel-safe: bytes are
    /// moved out of the reader only after its read completed.
    pub async fn next(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                if self.discarding {
                    self.discarding = false;
                    return Ok(Some(Line::Invalid("line too long")));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.take()));
            }
            match chunk.iter().position(|b| *b == b'\n') {
                Some(pos) => {
                    let fits = !self.discarding && self.buf.len() + pos <= MAX_LINE;
                    if fits {
                        self.buf.extend_from_slice(&chunk[..pos]);
                    }
                    self.inner.consume(pos + 1);
                    if !fits {
                        self.discarding = false;
                        self.buf.clear();
                        return Ok(Some(Line::Invalid("line too long")));
                    }
                    return Ok(Some(self.take()));
                }
                None => {
                    let n = chunk.len();
                    if !self.discarding {
                        if self.buf.len() + n > MAX_LINE {
                            self.discarding = true;
                            self.buf.clear();
                        } else {
                            self.buf.extend_from_slice(chunk);
                        }
                    }
                    self.inner.consume(n);
                }
            }
        }
    }

    fn take(&mut self) -> Line {
        let bytes = std::mem::take(&mut self.buf);
        match String::from_utf8(bytes) {
            Ok(mut s) => {
                if s.ends_with('\r') {
                    s.pop();
                }
                Line::Text(s)
            }
            Err(_) => Line::Invalid("line is not UTF-8"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_json_forms_parse() {
        assert_eq!(
            parse(r#"{"type":"offer","sdp":"v=0\r\n"}"#).unwrap(),
            Incoming::Description(SessionDescription::offer("v=0\r\n"))
        );
        let Incoming::Candidate(c) = parse(
            r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        assert_eq!(c.username_fragment.as_deref(), Some("abcd"));
        let Incoming::Candidate(end) =
            parse(r#"{"type":"candidate","candidate":"","sdpMid":"0","sdpMLineIndex":0}"#).unwrap()
        else {
            panic!()
        };
        assert!(end.is_end_of_candidates());
        assert_eq!(parse(r#"{"type":"bye"}"#).unwrap(), Incoming::Bye);
    }

    #[test]
    fn bad_lines_are_errors() {
        for bad in [
            "",
            "nonsense",
            "[]",
            r#"{"sdp":"x"}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"offer"}"#,
            r#"{"type":"offer","sdp":5}"#,
            r#"{"type":"candidate","candidate":"x","sdpMLineIndex":-1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outgoing_messages_use_the_browser_forms() {
        assert_eq!(
            Outgoing::Offer {
                sdp: "v=0\r\n".into()
            }
            .to_line(),
            r#"{"type":"offer","sdp":"v=0\r\n"}"#
        );
        assert_eq!(
            Outgoing::Candidate {
                candidate: String::new(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0)
            }
            .to_line(),
            r#"{"type":"candidate","candidate":"","sdpMid":"0","sdpMLineIndex":0}"#
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn long_lines_are_skipped_whole_and_reading_goes_on() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\n{\"type\":\"bye\"}\r\nlast");
        let mut r = LineReader::new(tokio::io::BufReader::with_capacity(4096, &input[..]));
        assert_eq!(
            r.next().await.unwrap(),
            Some(Line::Invalid("line too long"))
        );
        assert_eq!(
            r.next().await.unwrap(),
            Some(Line::Text("{\"type\":\"bye\"}".into()))
        );
        assert_eq!(r.next().await.unwrap(), Some(Line::Text("last".into())));
        assert_eq!(r.next().await.unwrap(), None);
    }
}
