//! Payload type and header extension id numbering across the sections of
//! one BUNDLE group: its sections are one RTP session (RFC 8843 §9.1), so a
//! payload type means one codec configuration in all of them (§9.1.1,
//! "Payload Type (PT) Value Reuse") and an extension id one extension.

use ferrtc_sdp::split_fmtp_params;

use crate::codec::Codec;
use crate::transceiver::HeaderExtension;

/// Dynamic payload types an offer may pick (RFC 3551 §6), the upper range
/// first, then the lower one browsers also use, both clear of the RTCP
/// packet types 64-95 that rtcp-mux excludes (RFC 5761 §4).
const DYNAMIC_PAYLOAD_TYPES: [std::ops::RangeInclusive<u8>; 2] = [96..=127, 35..=63];

/// Ids of one-byte header extensions (RFC 8285 §4.2).
const ONE_BYTE_IDS: std::ops::RangeInclusive<u16> = 1..=14;

/// What the session's earlier descriptions gave one number (a payload type
/// or an extension id): the first meaning, and whether a later description
/// gave the number another. A contested number goes back to neither: the
/// peer's current description may use it for either, and an offer must not
/// give a number a second meaning (RFC 3264 §8.3.2, RFC 8285 §6).
#[derive(Debug, Clone)]
pub(crate) struct Remembered<T> {
    /// The meaning the first description gave the number.
    pub(crate) first: T,
    /// Whether a description gave the number another meaning since.
    pub(crate) contested: bool,
}

/// Notes in `history` (one entry per number, at most `max` entries) that a
/// description gave `item`'s number `item`'s meaning: a number not yet
/// there takes an entry, and one there with a meaning `same_meaning` tells
/// apart from `item`'s becomes contested.
pub(crate) fn note<T>(
    history: &mut Vec<Remembered<T>>,
    max: usize,
    item: T,
    same_number: impl Fn(&T, &T) -> bool,
    same_meaning: impl Fn(&T, &T) -> bool,
) {
    if let Some(h) = history.iter_mut().find(|h| same_number(&h.first, &item)) {
        h.contested |= !same_meaning(&h.first, &item);
    } else if history.len() < max {
        history.push(Remembered {
            first: item,
            contested: false,
        });
    }
}

/// The numbers the sections of a BUNDLE group use so far, and what each means.
#[derive(Debug, Default)]
pub(crate) struct BundleNumbers {
    codecs: Vec<Codec>,
    extensions: Vec<HeaderExtension>,
    /// Payload types the session's descriptions gave a codec earlier (offered
    /// by either side, agreed or not), one entry per payload type: a dynamic
    /// payload type keeps its codec for the whole session (RFC 3264 §8.3.2),
    /// and a contested one goes to no codec.
    earlier: Vec<Remembered<Codec>>,
    /// Extension ids the session's descriptions gave a URI earlier (offered
    /// by either side, agreed or not), one entry per id: an id keeps its
    /// extension for the whole session, as a payload type keeps its codec
    /// (RFC 8285 §6 lets a session update add extensions; RFC 8843 §9.1
    /// has an id name one extension in a BUNDLE group), and a contested id
    /// goes to no URI.
    earlier_extensions: Vec<Remembered<HeaderExtension>>,
}

/// A codec configuration as RFC 8843 §9.1.1 compares them: encoding name,
/// clock rate, channels and format parameters (in any order).
pub(crate) fn same_configuration(a: &Codec, b: &Codec) -> bool {
    fn params(c: &Codec) -> Vec<(String, &str)> {
        let mut p: Vec<(String, &str)> = split_fmtp_params(c.fmtp.as_deref().unwrap_or_default())
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        p.sort();
        p
    }
    a.name.eq_ignore_ascii_case(&b.name)
        && a.clock_rate == b.clock_rate
        && a.channels.unwrap_or(1) == b.channels.unwrap_or(1)
        && params(a) == params(b)
}

/// Whether two descriptions that give one payload type `a` and `b` give it
/// the same codec (RFC 3264 §8.3.2): the same configuration, or the same
/// codec in another one (an answer may change parameters that do not tell
/// codecs apart), an RTX repairing the same payload type.
pub(crate) fn same_codec(a: &Codec, b: &Codec) -> bool {
    same_configuration(a, b) || (a.matches(b) && a.apt() == b.apt())
}

impl BundleNumbers {
    /// Records numbers a section keeps as they are (negotiated ones).
    pub(crate) fn record(&mut self, codecs: &[Codec], extensions: &[HeaderExtension]) {
        self.codecs.extend(codecs.iter().cloned());
        self.extensions.extend(extensions.iter().cloned());
    }

    /// Remembers payload types the session's earlier descriptions map to
    /// codecs (one entry per payload type), so that [`Self::assign`] gives
    /// each back to its codec, unless contested, and to no other.
    pub(crate) fn remember(&mut self, codecs: impl IntoIterator<Item = Remembered<Codec>>) {
        self.earlier.extend(codecs);
    }

    /// Remembers extension ids the session's earlier descriptions map to
    /// URIs (one entry per id), so that [`Self::assign`] gives each back to
    /// its URI, unless contested, and to no other.
    pub(crate) fn remember_extensions(
        &mut self,
        extensions: impl IntoIterator<Item = Remembered<HeaderExtension>>,
    ) {
        self.earlier_extensions.extend(extensions);
    }

    /// The payload type an earlier description gave `c`'s configuration
    /// (or, for a media codec, the same codec, RFC 3264 §8.3.2), if neither
    /// the group nor this assignment uses it now. A number that only
    /// matches `c`'s codec is never one in `exact_elsewhere`, which another
    /// codec of the assignment has the very configuration of.
    fn earlier_number(&self, c: &Codec, taken: &[u8], exact_elsewhere: &[u8]) -> Option<u8> {
        let free =
            |pt: u8| !taken.contains(&pt) && !self.codecs.iter().any(|g| g.payload_type == pt);
        let candidates = || {
            self.earlier
                .iter()
                .filter(|e| !e.contested && free(e.first.payload_type))
                .map(|e| &e.first)
        };
        candidates()
            .find(|e| same_configuration(e, c))
            .or_else(|| {
                candidates().find(|e| {
                    !c.is_rtx()
                        && !e.is_rtx()
                        && !exact_elsewhere.contains(&e.payload_type)
                        && e.matches(c)
                })
            })
            .map(|e| e.payload_type)
    }

    /// Renumbers a new section's codecs and extensions (or the codecs a
    /// re-offer adds to a negotiated section) so that none takes a
    /// number the group uses for something else: a codec or extension the
    /// group has keeps the group's number, a codec an earlier description
    /// numbered ([`Self::remember`]) takes that number back, any other keeps
    /// its own when neither the group nor an earlier description used it and
    /// takes a free one otherwise (RTX `apt` follows its codec,
    /// or keeps naming a codec the group has that is not among `codecs`);
    /// extensions the same way with the ids earlier descriptions gave URIs
    /// ([`Self::remember_extensions`]). One left without a free number is
    /// left out. Records the result.
    pub(crate) fn assign(
        &mut self,
        codecs: &[Codec],
        extensions: &[HeaderExtension],
    ) -> (Vec<Codec>, Vec<HeaderExtension>) {
        let codecs = self.assign_codecs(codecs);
        let extensions = self.assign_extensions(extensions);
        self.record(&codecs, &extensions);
        (codecs, extensions)
    }

    fn assign_codecs(&self, codecs: &[Codec]) -> Vec<Codec> {
        let own: Vec<u8> = codecs.iter().map(|c| c.payload_type).collect();
        // An `apt` names a media codec (RFC 4588 §8.6), never an RTX.
        let own_media: Vec<u8> = codecs
            .iter()
            .filter(|c| !c.is_rtx())
            .map(|c| c.payload_type)
            .collect();
        // Earlier numbers of the very configuration of one of `codecs`: the
        // exact pass over all of them comes before any codec takes one
        // that merely matches it (RFC 3264 §8.3.2).
        let exact_earlier: Vec<u8> = self
            .earlier
            .iter()
            .filter(|e| !e.contested)
            .map(|e| &e.first)
            .filter(|e| !e.is_rtx() && codecs.iter().any(|c| same_configuration(e, c)))
            .map(|e| e.payload_type)
            .collect();
        let mut taken: Vec<u8> = Vec::new();
        // A media codec's old payload type -> its new one, for the RTX `apt`s.
        let mut renumbered: Vec<(u8, u8)> = Vec::new();
        let mut out: Vec<Option<Codec>> = vec![None; codecs.len()];
        // Media codecs first, so that each RTX knows its codec's number.
        let order = codecs
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_rtx())
            .chain(codecs.iter().enumerate().filter(|(_, c)| c.is_rtx()));
        for (i, c) in order {
            let mut c = c.clone();
            if c.is_rtx() {
                let Some(apt) = c.apt() else { continue };
                // An RTX follows its codec's new number; one for a codec the
                // group already has (not among `codecs`) keeps pointing at it.
                let new_apt = match renumbered.iter().find(|(old, _)| *old == apt) {
                    Some(&(_, new_apt)) => new_apt,
                    None if !own_media.contains(&apt)
                        && self
                            .codecs
                            .iter()
                            .any(|g| !g.is_rtx() && g.payload_type == apt) =>
                    {
                        apt
                    }
                    None => continue,
                };
                c.fmtp = c.fmtp.as_deref().map(|f| {
                    split_fmtp_params(f)
                        .map(|(k, v)| match (k.eq_ignore_ascii_case("apt"), v) {
                            (true, _) => format!("{k}={new_apt}"),
                            (false, "") => k.to_owned(),
                            (false, v) => format!("{k}={v}"),
                        })
                        .collect::<Vec<_>>()
                        .join(";")
                });
            }
            let used = |pt: u8| {
                taken.contains(&pt)
                    || self.codecs.iter().any(|g| g.payload_type == pt)
                    || self.earlier.iter().any(|e| e.first.payload_type == pt)
            };
            let pt = match self.codecs.iter().find(|g| same_configuration(g, &c)) {
                Some(g) if !taken.contains(&g.payload_type) => Some(g.payload_type),
                _ => match self.earlier_number(&c, &taken, &exact_earlier) {
                    Some(pt) => Some(pt),
                    None if !used(c.payload_type) => Some(c.payload_type),
                    None => DYNAMIC_PAYLOAD_TYPES
                        .iter()
                        .flat_map(|r| r.clone())
                        .find(|pt| !used(*pt) && !own.contains(pt)),
                },
            };
            let Some(pt) = pt else { continue };
            if !c.is_rtx() {
                renumbered.push((c.payload_type, pt));
            }
            taken.push(pt);
            c.payload_type = pt;
            out[i] = Some(c);
        }
        out.into_iter().flatten().collect()
    }

    fn assign_extensions(&self, extensions: &[HeaderExtension]) -> Vec<HeaderExtension> {
        let own: Vec<u16> = extensions.iter().map(|e| e.id).collect();
        let mut out: Vec<HeaderExtension> = Vec::with_capacity(extensions.len());
        for e in extensions {
            let used = |id: u16, out: &[HeaderExtension]| {
                out.iter().any(|x| x.id == id) || self.extensions.iter().any(|g| g.id == id)
            };
            // An id an earlier description of the session gave another URI
            // (first, or since: a contested id).
            let meant_else = |id: u16| {
                self.earlier_extensions
                    .iter()
                    .any(|x| x.first.id == id && (x.contested || x.first.uri != e.uri))
            };
            let id = match self.extensions.iter().find(|g| g.uri == e.uri) {
                Some(g) if !out.iter().any(|x| x.id == g.id) => Some(g.id),
                _ => self
                    .earlier_extensions
                    .iter()
                    .find(|x| !x.contested && x.first.uri == e.uri && !used(x.first.id, &out))
                    .map(|x| x.first.id)
                    .or_else(|| (!used(e.id, &out) && !meant_else(e.id)).then_some(e.id))
                    .or_else(|| {
                        ONE_BYTE_IDS
                            .clone()
                            .find(|id| !used(*id, &out) && !meant_else(*id) && !own.contains(id))
                    }),
            };
            if let Some(id) = id {
                out.push(HeaderExtension::new(id, &e.uri));
            }
        }
        out
    }
}
