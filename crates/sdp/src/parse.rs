//! The SDP parser (RFC 8866 §5): bounded, line-numbered, never panics.
//!
//! Line endings: CRLF or a bare LF both end a line; empty lines are skipped.
//! The writer always emits CRLF, so `write(parse(x)) == x` holds byte for byte
//! for any CRLF input in RFC 8866 field order whose attributes are written in
//! their canonical spelling; an attribute written any other way (extra
//! spaces, parameters out of order) is kept verbatim as [`Attribute::Other`].

use std::fmt::Write;

use crate::attribute::Attribute;
use crate::error::{SdpError, ValueError, quote};
use crate::model::{
    Bandwidth, BandwidthType, Connection, MediaDescription, MediaKind, Origin, SessionDescription,
    Timing,
};

/// Size limits applied while parsing untrusted SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum size of the whole text in bytes (default 256 KiB).
    pub max_bytes: usize,
    /// Maximum number of lines (default 8192).
    pub max_lines: usize,
    /// Maximum length of one line in bytes, without its line ending (default 4096).
    pub max_line_length: usize,
    /// Maximum number of media sections (default 1024).
    pub max_media: usize,
}

impl Limits {
    /// No limit: for a description this side wrote (the serialization of
    /// a model built from bounded inputs, which can outgrow the offer it
    /// answers) or one accepted within limits before.
    pub const NONE: Limits = Limits {
        max_bytes: usize::MAX,
        max_lines: usize::MAX,
        max_line_length: usize::MAX,
        max_media: usize::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
            max_lines: 8192,
            max_line_length: 4096,
            max_media: 1024,
        }
    }
}

/// Parses SDP text with the default [`Limits`].
pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    parse_bytes(text.as_bytes(), &Limits::default())
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Parses SDP from raw bytes (UTF-8 is checked line by line) with the given limits.
pub fn parse_bytes(data: &[u8], limits: &Limits) -> Result<SessionDescription, SdpError> {
    if data.len() > limits.max_bytes {
        return Err(SdpError::TooLarge {
            size: data.len(),
            limit: limits.max_bytes,
        });
    }
    let mut parser = Parser::default();
    for (index, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        if line > limits.max_lines {
            return Err(SdpError::TooManyLines {
                limit: limits.max_lines,
            });
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        if raw.len() > limits.max_line_length {
            return Err(SdpError::LineTooLong {
                line,
                length: raw.len(),
                limit: limits.max_line_length,
            });
        }
        let text = std::str::from_utf8(raw).map_err(|_| SdpError::NotUtf8 { line })?;
        parser.line(line, text, limits)?;
    }
    parser.finish()
}

/// Order of the fields (RFC 8866 §5): session-level ranks, then media-level ranks.
fn session_rank(c: char) -> Option<u8> {
    Some(match c {
        'v' => 0,
        'o' => 1,
        's' => 2,
        'i' => 3,
        'u' => 4,
        'e' => 5,
        'p' => 6,
        'c' => 7,
        'b' => 8,
        't' => 9,
        'r' => 10,
        'z' => 11,
        'k' => 12,
        'a' => 13,
        _ => return None,
    })
}

fn media_rank(c: char) -> Option<u8> {
    Some(match c {
        'i' => 1,
        'c' => 2,
        'b' => 3,
        'k' => 4,
        'a' => 5,
        _ => return None,
    })
}

fn repeatable(c: char, in_media: bool) -> bool {
    match c {
        'e' | 'p' | 'b' | 't' | 'r' | 'a' => true,
        'c' => in_media,
        _ => false,
    }
}

#[derive(Default)]
struct Parser {
    seen_v: bool,
    origin: Option<Origin>,
    session_name: Option<String>,
    information: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    times: Vec<Timing>,
    time_zones: Option<String>,
    key: Option<String>,
    attributes: Vec<Attribute>,
    media: Vec<MediaDescription>,
    last: Option<(char, u8)>,
    scratch: String,
}

impl Parser {
    fn line(&mut self, line: usize, text: &str, limits: &Limits) -> Result<(), SdpError> {
        let bytes = text.as_bytes();
        let (field, value) = match bytes {
            [f, b'=', ..] if f.is_ascii_lowercase() => (char::from(*f), &text[2..]),
            _ => return Err(SdpError::NotAField { line }),
        };
        if value.contains(['\r', '\0']) {
            return Err(SdpError::Invalid {
                line,
                what: "line",
                detail: "CR or NUL inside the line".into(),
            });
        }
        if !self.seen_v {
            if field != 'v' {
                return Err(SdpError::Unexpected {
                    line,
                    field,
                    reason: "the first line must be `v=`",
                });
            }
            if value != "0" {
                return Err(
                    ValueError::new("v=", format!("unsupported version {}", quote(value))).at(line),
                );
            }
            self.seen_v = true;
            self.last = Some(('v', 0));
            return Ok(());
        }
        if field == 'm' {
            if self.media.len() >= limits.max_media {
                return Err(SdpError::TooManyMedia {
                    line,
                    limit: limits.max_media,
                });
            }
            self.check_session_complete()?;
            self.media
                .push(parse_media_line(value).map_err(|e| e.at(line))?);
            self.last = Some(('m', 0));
            return Ok(());
        }
        let in_media = !self.media.is_empty();
        let rank = if in_media {
            media_rank(field)
        } else {
            session_rank(field)
        };
        let Some(rank) = rank else {
            return Err(SdpError::Unexpected {
                line,
                field,
                reason: if in_media {
                    "not a media-level field"
                } else {
                    "unknown or misplaced field type"
                },
            });
        };
        if let Some((prev, prev_rank)) = self.last {
            let restart_time = field == 't' && prev == 'r';
            if rank < prev_rank && !restart_time {
                return Err(SdpError::Unexpected {
                    line,
                    field,
                    reason: "out of RFC 8866 order",
                });
            }
            if prev == field && !repeatable(field, in_media) {
                return Err(SdpError::Unexpected {
                    line,
                    field,
                    reason: "repeated",
                });
            }
        }
        self.last = Some((field, rank));
        if field == 'a' {
            let attr = self.attribute(value).map_err(|e| e.at(line))?;
            match self.media.last_mut() {
                Some(m) => m.attributes.push(attr),
                None => self.attributes.push(attr),
            }
            return Ok(());
        }
        self.field(field, value).map_err(|e| e.at(line))
    }

    fn check_session_complete(&self) -> Result<(), SdpError> {
        if self.origin.is_none() {
            return Err(SdpError::Missing { field: 'o' });
        }
        if self.session_name.is_none() {
            return Err(SdpError::Missing { field: 's' });
        }
        if self.times.is_empty() {
            return Err(SdpError::Missing { field: 't' });
        }
        Ok(())
    }

    fn field(&mut self, field: char, value: &str) -> Result<(), ValueError> {
        if let Some(m) = self.media.last_mut() {
            match field {
                'i' => m.information = Some(value.to_owned()),
                'c' => m.connections.push(parse_connection(value)?),
                'b' => m.bandwidths.push(parse_bandwidth(value)?),
                _ => m.key = Some(value.to_owned()),
            }
            return Ok(());
        }
        match field {
            'o' => self.origin = Some(parse_origin(value)?),
            's' => self.session_name = Some(value.to_owned()),
            'i' => self.information = Some(value.to_owned()),
            'u' => self.uri = Some(value.to_owned()),
            'e' => self.emails.push(value.to_owned()),
            'p' => self.phones.push(value.to_owned()),
            'c' => self.connection = Some(parse_connection(value)?),
            'b' => self.bandwidths.push(parse_bandwidth(value)?),
            't' => {
                let (start, stop) = value
                    .split_once(' ')
                    .ok_or_else(|| ValueError::new("t=", "expected `<start> <stop>`"))?;
                self.times.push(Timing {
                    start: number("t=", start)?,
                    stop: number("t=", stop)?,
                    repeats: Vec::new(),
                });
            }
            'r' => match self.times.last_mut() {
                Some(t) => t.repeats.push(value.to_owned()),
                None => return Err(ValueError::new("r=", "no `t=` line before it")),
            },
            'z' => self.time_zones = Some(value.to_owned()),
            _ => self.key = Some(value.to_owned()),
        }
        Ok(())
    }

    /// Parses `a=` text; falls back to [`Attribute::Other`] when the typed form
    /// would not write back the same text, so that writing stays lossless.
    fn attribute(&mut self, text: &str) -> Result<Attribute, ValueError> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        if name.is_empty() || name.contains(' ') {
            return Err(ValueError::new(
                "a=",
                format!("bad attribute name {}", quote(name)),
            ));
        }
        let attr = Attribute::parse(name, value)?;
        if matches!(attr, Attribute::Other { .. }) {
            return Ok(attr);
        }
        self.scratch.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.scratch, "{attr}");
        if self.scratch == text {
            Ok(attr)
        } else {
            Ok(Attribute::Other {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            })
        }
    }

    fn finish(self) -> Result<SessionDescription, SdpError> {
        if !self.seen_v {
            return Err(SdpError::Missing { field: 'v' });
        }
        self.check_session_complete()?;
        Ok(SessionDescription {
            origin: self.origin.ok_or(SdpError::Missing { field: 'o' })?,
            session_name: self.session_name.ok_or(SdpError::Missing { field: 's' })?,
            information: self.information,
            uri: self.uri,
            emails: self.emails,
            phones: self.phones,
            connection: self.connection,
            bandwidths: self.bandwidths,
            times: self.times,
            time_zones: self.time_zones,
            key: self.key,
            attributes: self.attributes,
            media: self.media,
        })
    }
}

fn number<T: std::str::FromStr>(what: &'static str, s: &str) -> Result<T, ValueError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(what, format!("not a number: {}", quote(s))));
    }
    s.parse()
        .map_err(|_| ValueError::new(what, format!("out of range: {}", quote(s))))
}

fn word<'a>(
    what: &'static str,
    it: &mut impl Iterator<Item = &'a str>,
) -> Result<&'a str, ValueError> {
    match it.next() {
        Some(w) if !w.is_empty() => Ok(w),
        _ => Err(ValueError::new(what, "missing or empty field")),
    }
}

fn parse_origin(v: &str) -> Result<Origin, ValueError> {
    const W: &str = "o=";
    let mut it = v.split(' ');
    let username = word(W, &mut it)?.to_owned();
    let session_id = word(W, &mut it)?;
    if !session_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(
            W,
            format!("session id {} is not a number", quote(session_id)),
        ));
    }
    let session_version = number(W, word(W, &mut it)?)?;
    let net_type = word(W, &mut it)?.to_owned();
    let addr_type = word(W, &mut it)?.to_owned();
    let address = word(W, &mut it)?.to_owned();
    if it.next().is_some() {
        return Err(ValueError::new(W, "more than six fields"));
    }
    Ok(Origin {
        username,
        session_id: session_id.to_owned(),
        session_version,
        net_type,
        addr_type,
        address,
    })
}

fn parse_connection(v: &str) -> Result<Connection, ValueError> {
    const W: &str = "c=";
    let mut it = v.split(' ');
    let c = Connection {
        net_type: word(W, &mut it)?.to_owned(),
        addr_type: word(W, &mut it)?.to_owned(),
        address: word(W, &mut it)?.to_owned(),
    };
    if it.next().is_some() {
        return Err(ValueError::new(W, "more than three fields"));
    }
    Ok(c)
}

fn parse_bandwidth(v: &str) -> Result<Bandwidth, ValueError> {
    const W: &str = "b=";
    let (kind, value) = v
        .split_once(':')
        .ok_or_else(|| ValueError::new(W, "expected `<type>:<value>`"))?;
    if kind.is_empty() || kind.contains(' ') {
        return Err(ValueError::new(W, format!("bad type {}", quote(kind))));
    }
    Ok(Bandwidth {
        kind: BandwidthType::parse(kind),
        value: number(W, value)?,
    })
}

fn parse_media_line(v: &str) -> Result<MediaDescription, ValueError> {
    const W: &str = "m=";
    let mut it = v.split(' ');
    let kind = MediaKind::parse(word(W, &mut it)?);
    let port_text = word(W, &mut it)?;
    let (port, port_count) = match port_text.split_once('/') {
        Some((p, n)) => (number(W, p)?, Some(number(W, n)?)),
        None => (number(W, port_text)?, None),
    };
    let protocol = word(W, &mut it)?;
    let formats = it
        .map(|f| {
            if f.is_empty() {
                Err(ValueError::new(W, "empty format"))
            } else {
                Ok(f.to_owned())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut m = MediaDescription::new(kind, port, protocol, formats);
    m.port_count = port_count;
    Ok(m)
}
