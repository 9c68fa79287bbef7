//! Errors of the SDP parser.

use thiserror::Error;

/// Why an SDP (RFC 8866) could not be parsed.
///
/// Every error that comes from a line carries its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The whole description is over [`Limits::max_bytes`](crate::Limits::max_bytes).
    #[error("SDP is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The description has more lines than [`Limits::max_lines`](crate::Limits::max_lines).
    #[error("SDP has more than {limit} lines")]
    TooManyLines {
        /// The configured limit.
        limit: usize,
    },
    /// The description has more media sections than [`Limits::max_media`](crate::Limits::max_media).
    #[error("line {line}: more than {limit} media sections")]
    TooManyMedia {
        /// Line of the first `m=` over the limit.
        line: usize,
        /// The configured limit.
        limit: usize,
    },
    /// One line is longer than [`Limits::max_line_length`](crate::Limits::max_line_length).
    #[error("line {line}: {length} bytes long, over the limit of {limit}")]
    LineTooLong {
        /// Line number.
        line: usize,
        /// Length of the line in bytes.
        length: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The input is not UTF-8 (RFC 8866 §5 uses UTF-8 for text fields).
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// Line number.
        line: usize,
    },
    /// The line is not of the form `<type>=<value>` with a one-letter type (RFC 8866 §5).
    #[error("line {line}: not a `<type>=<value>` line")]
    NotAField {
        /// Line number.
        line: usize,
    },
    /// A field appeared where RFC 8866 §5 does not allow it (order or repetition).
    #[error("line {line}: `{field}=` is not allowed here ({reason})")]
    Unexpected {
        /// Line number.
        line: usize,
        /// The field type letter.
        field: char,
        /// What rule was broken.
        reason: &'static str,
    },
    /// A mandatory field is missing.
    #[error("missing mandatory `{field}=` line")]
    Missing {
        /// The field type letter.
        field: char,
    },
    /// A field or attribute value does not follow its grammar.
    #[error("line {line}: invalid {what}: {detail}")]
    Invalid {
        /// Line number.
        line: usize,
        /// The field or attribute, e.g. `a=rtpmap` or `m= port`.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// Error of a single value parser, before the line number is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueError {
    pub(crate) what: &'static str,
    pub(crate) detail: String,
}

impl ValueError {
    pub(crate) fn new(what: &'static str, detail: impl Into<String>) -> Self {
        Self {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn at(self, line: usize) -> SdpError {
        SdpError::Invalid {
            line,
            what: self.what,
            detail: self.detail,
        }
    }
}

/// Shortens untrusted text quoted in an error message.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return format!("`{s}`");
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("`{}...`", &s[..end])
}
