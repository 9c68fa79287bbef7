//! The mDNS responder for the `.local` names that hide our host candidates
//! (draft-ietf-mmusic-mdns-ice-candidates §3.1.1), sans-IO: a table of
//! names, the answer to each query (RFC 6762 §6), and the goodbye of a
//! name that goes away (§10.1). The socket is [`super::service`]'s.
//!
//! What it does not do: probing (§8.1; the draft lets agents skip it, the
//! names being random UUIDs), the announcement of a new name (§8.3; the
//! peer asks when it needs the address), known-answer suppression (§7.1),
//! and the IPv6 group (`ff02::fb`; AAAA records are answered over IPv4).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::wire::{self, Framing, LocalName, Query, Record, Wanted, WireError};

/// The TTL of host address records (RFC 6762 §10: 120 s for records with
/// a host name).
pub(crate) const HOST_TTL: u32 = 120;

/// The mDNS port (RFC 6762 §3): queries from another port are legacy
/// one-shot queries (§6.7).
const MDNS_PORT: u16 = 5353;

/// RFC 6762 §6: a record is not multicast again within one second.
const MULTICAST_INTERVAL: Duration = Duration::from_secs(1);

/// Names the responder holds at most (every connection's host addresses).
pub(crate) const MAX_NAMES: usize = 4096;

/// Where an answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Back to the querier (RFC 6762 §6.7 legacy queries, §5.4 QU questions).
    Unicast(SocketAddr),
    /// To the mDNS group (§6).
    Multicast,
}

/// What the responder counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MdnsResponderStats {
    /// Queries read.
    pub queries: u64,
    /// Answers sent (one message each).
    pub answers: u64,
    /// Queries not answered: they asked for none of our records (other
    /// names, other types), came from a source off the local link, or asked
    /// only for records multicast within the last second.
    pub ignored: u64,
    /// Malformed messages, dropped.
    pub malformed: u64,
    /// Goodbye messages sent (RFC 6762 §10.1).
    pub goodbyes: u64,
}

/// One name we answer for.
#[derive(Debug)]
struct Entry {
    /// The name as registered (lower case).
    name: String,
    ip: IpAddr,
    /// When its address record was last multicast (RFC 6762 §6 rate limit).
    address_multicast_at: Option<Instant>,
    /// When its NSEC record (§6.1) was last multicast.
    nsec_multicast_at: Option<Instant>,
}

impl Entry {
    fn record(&self) -> Record<'_> {
        Record {
            name: &self.name,
            ip: self.ip,
        }
    }
}

/// Whether a record last multicast at `at` may be multicast at `now`
/// (RFC 6762 §6: not again within one second).
fn due(at: Option<Instant>, now: Instant) -> bool {
    at.is_none_or(|t| now >= t + MULTICAST_INTERVAL)
}

/// Why a name was not registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RegisterError {
    /// The name is already ours, for another address.
    #[error("mDNS name {0} is already registered")]
    Taken(String),
    /// The table is full.
    #[error("mDNS responder holds {MAX_NAMES} names already")]
    Full,
    /// Not a `.local` name.
    #[error(transparent)]
    Name(#[from] WireError),
}

/// The names and the answering rules of one responder socket.
#[derive(Debug, Default)]
pub(crate) struct Responder {
    /// By lower-case name (names compare without regard to case, §16).
    names: HashMap<String, Entry>,
    query: Query,
    stats: MdnsResponderStats,
}

impl Responder {
    /// Answers for `name` with `ip` from now on.
    pub(crate) fn register(&mut self, name: &str, ip: IpAddr) -> Result<(), RegisterError> {
        let name = LocalName::parse(name)?.as_str().to_ascii_lowercase();
        if self.names.contains_key(&name) {
            return Err(RegisterError::Taken(name));
        }
        if self.names.len() >= MAX_NAMES {
            return Err(RegisterError::Full);
        }
        self.names.insert(
            name.clone(),
            Entry {
                name,
                ip,
                address_multicast_at: None,
                nsec_multicast_at: None,
            },
        );
        Ok(())
    }

    /// Stops answering for `names` and writes their goodbye (RFC 6762
    /// §10.1: the records with TTL 0) into `out`; `false` when none of
    /// them was registered (nothing to send).
    pub(crate) fn unregister<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
        out: &mut Vec<u8>,
    ) -> bool {
        let gone: Vec<Entry> = names
            .into_iter()
            .filter_map(|n| self.names.remove(&n.to_ascii_lowercase()))
            .collect();
        if gone.is_empty() {
            return false;
        }
        let records: Vec<(Record<'_>, Wanted)> =
            gone.iter().map(|e| (e.record(), Wanted::ADDRESS)).collect();
        wire::write_response(Framing::Mdns { ttl: 0 }, &records, &[], out);
        self.stats.goodbyes += 1;
        true
    }

    /// How many names are registered.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// What the responder counted.
    pub(crate) fn stats(&self) -> MdnsResponderStats {
        self.stats
    }

    /// Reads a datagram that arrived from `from` and writes the answer, if
    /// one is due, into `out` (RFC 6762 §6): for a query from a port other
    /// than 5353, a legacy unicast answer (§6.7); for a question with the
    /// QU bit, a unicast answer (§5.4); otherwise a multicast one with the
    /// records asked for that were not multicast in the last second (none:
    /// no answer). A query that asks for none of our records (only other
    /// names, or other types) gets no answer. Responses from other
    /// responders are ignored; malformed messages are counted.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Destination> {
        match wire::read_query(msg, &mut self.query) {
            Ok(()) => {}
            // Other responders' answers, and other opcodes, are not ours
            // to read (§18.3, §18.11).
            Err(WireError::NotAQuery | WireError::NotStandard { .. }) => return None,
            Err(e) => {
                tracing::debug!("mDNS query from {from} dropped: {e}");
                self.stats.malformed += 1;
                return None;
            }
        }
        self.stats.queries += 1;
        // RFC 6762 §11 (and the draft's §4: the point is that only the
        // local link learns the address): a query from an address that
        // cannot be on the local link gets nothing.
        if !on_local_link(from.ip()) {
            self.stats.ignored += 1;
            return None;
        }
        let legacy = from.port() != MDNS_PORT;
        // The names asked about that are ours, each once (one table lookup
        // per question, however many names the responder holds), with the
        // records the questions ask of them (§6, §6.1: a question of
        // another type, TXT say, gets the NSEC record). At most
        // MAX_QUESTIONS.
        let mut matched: Vec<(String, Wanted)> = Vec::new();
        for q in &self.query.questions {
            let Some(entry) = self.names.get(&q.name) else {
                continue;
            };
            if matched.iter().any(|(n, _)| *n == q.name) {
                continue;
            }
            let wanted = Wanted::by(&self.query.questions, &entry.record());
            if wanted.any() {
                matched.push((entry.name.clone(), wanted));
            }
        }
        // §5.4: a QU question about any of them asks for a unicast answer.
        let unicast = legacy
            || self
                .query
                .questions
                .iter()
                .any(|q| q.unicast && matched.iter().any(|(n, _)| *n == q.name));
        if !unicast {
            // §6: a record is multicast at most once a second, each record
            // on its own: an NSEC-only answer does not hold back the
            // address record, nor an address answer the NSEC record.
            for (n, wanted) in &mut matched {
                if let Some(e) = self.names.get(n.as_str()) {
                    wanted.address &= due(e.address_multicast_at, now);
                    wanted.nsec &= due(e.nsec_multicast_at, now);
                }
            }
            matched.retain(|(_, w)| w.any());
        }
        if matched.is_empty() {
            self.stats.ignored += 1;
            return None;
        }
        let destination = if unicast {
            Destination::Unicast(from)
        } else {
            for (n, wanted) in &matched {
                if let Some(e) = self.names.get_mut(n) {
                    if wanted.address {
                        e.address_multicast_at = Some(now);
                    }
                    if wanted.nsec {
                        e.nsec_multicast_at = Some(now);
                    }
                }
            }
            Destination::Multicast
        };
        let records: Vec<(Record<'_>, Wanted)> = matched
            .iter()
            .filter_map(|(n, w)| self.names.get(n.as_str()).map(|e| (e.record(), *w)))
            .collect();
        let framing = if legacy {
            Framing::Legacy { id: self.query.id }
        } else {
            Framing::Mdns { ttl: HOST_TTL }
        };
        wire::write_response(framing, &records, &self.query.questions, out);
        self.stats.answers += 1;
        Some(destination)
    }
}

/// Whether `ip` can be a neighbour on a local link: loopback, private
/// (RFC 1918, RFC 4193) or link-local. A query from anywhere else came
/// through a router, and mDNS answers are for the link (RFC 6762 §11).
fn on_local_link(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => on_local_link(IpAddr::V4(v4)),
            None => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const NAME: &str = "1f5e7a3c-2b4d-4e6f-8a9b-0c1d2e3f4a5b.local";
    const NAME6: &str = "0a5e7a3c-2b4d-4e6f-8a9b-0c1d2e3f4a5b.local";

    fn querier(port: u16) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::new(192, 168, 1, 9).into(), port)
    }

    fn responder() -> Responder {
        let mut r = Responder::default();
        r.register(NAME, Ipv4Addr::new(192, 168, 1, 23).into())
            .unwrap();
        r.register(NAME6, "fd00::17".parse::<Ipv6Addr>().unwrap().into())
            .unwrap();
        r
    }

    /// A query as the resolver writes it: A and AAAA, QU bit, id 0.
    fn query(name: &str) -> Vec<u8> {
        let mut q = Vec::new();
        wire::write_query(&LocalName::parse(name).unwrap(), &mut q);
        q
    }

    fn addresses(msg: &[u8], name: &str) -> Vec<IpAddr> {
        let mut out = Vec::new();
        wire::read_response(msg, &LocalName::parse(name).unwrap(), &mut out).unwrap();
        out
    }

    /// The TTL and class of the first answer record, which follows the
    /// header, the echoed questions (legacy) and the name.
    fn first_answer_class_and_ttl(msg: &[u8]) -> (u16, u32) {
        // Questions echoed: skip them. Every name here is uncompressed.
        let mut at = 12;
        let skip_name = |mut at: usize| {
            while msg[at] != 0 {
                at += 1 + usize::from(msg[at]);
            }
            at + 1
        };
        for _ in 0..u16::from_be_bytes([msg[4], msg[5]]) {
            at = skip_name(at) + 4;
        }
        at = skip_name(at) + 2;
        let class = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let ttl = u32::from_be_bytes([msg[at + 2], msg[at + 3], msg[at + 4], msg[at + 5]]);
        (class, ttl)
    }

    #[test]
    fn a_one_shot_query_gets_a_legacy_unicast_answer_with_its_id_and_questions() {
        let mut r = responder();
        let mut q = query(NAME);
        q[0..2].copy_from_slice(&[0x12, 0x34]);
        let mut out = Vec::new();
        let to = r.handle_datagram(Instant::now(), querier(40000), &q, &mut out);
        assert_eq!(to, Some(Destination::Unicast(querier(40000))));
        assert_eq!(&out[..2], &[0x12, 0x34], "id echoed (§6.7)");
        assert_eq!(&out[2..4], &[0x84, 0], "response, authoritative");
        assert_eq!(&out[4..6], &[0, 2], "both questions echoed");
        assert_eq!(addresses(&out, NAME), [IpAddr::from([192, 168, 1, 23])]);
        // §6.7: no cache-flush bit, TTL at most 10 s.
        assert_eq!(first_answer_class_and_ttl(&out), (1, wire::LEGACY_TTL));
        // §6.1: the name has no AAAA, which an NSEC record says.
        assert_eq!(&out[10..12], &[0, 1]);
        assert_eq!(r.stats().answers, 1);
    }

    #[test]
    fn a_query_from_port_5353_gets_a_multicast_answer_with_cache_flush_and_ttl_120() {
        let mut r = responder();
        let mut q = query(NAME6);
        // Clear the QU bits: a plain multicast question.
        q[58] &= 0x7f;
        let at = q.len() - 2;
        q[at] &= 0x7f;
        let mut out = Vec::new();
        let now = Instant::now();
        let to = r.handle_datagram(now, querier(5353), &q, &mut out);
        assert_eq!(to, Some(Destination::Multicast));
        assert_eq!(&out[..2], &[0, 0], "id 0 (§18.1)");
        assert_eq!(&out[4..6], &[0, 0], "no question");
        assert_eq!(
            addresses(&out, NAME6),
            ["fd00::17".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(first_answer_class_and_ttl(&out), (0x8001, HOST_TTL));
        // §6: not multicast again within a second.
        assert_eq!(
            r.handle_datagram(
                now + Duration::from_millis(500),
                querier(5353),
                &q,
                &mut out
            ),
            None
        );
        assert_eq!(
            r.handle_datagram(now + Duration::from_secs(1), querier(5353), &q, &mut out),
            Some(Destination::Multicast)
        );
    }

    /// A multicast query (port 5353, no QU bit) with one question of
    /// `kind` for `name`, as Chromium's mDNS client sends one per type.
    fn one_question(name: &str, kind: u16) -> Vec<u8> {
        let mut q = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&kind.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    /// RFC 6762 §6: the one-second limit is on multicasting a *record*.
    /// An answer to an AAAA question for an IPv4-only name carries only the
    /// NSEC record (§6.1), so an A question right after it (Chromium asks
    /// A and AAAA in separate queries) still gets the A record.
    #[test]
    fn the_multicast_rate_limit_holds_back_only_the_records_just_multicast() {
        let mut r = responder();
        let mut out = Vec::new();
        let now = Instant::now();
        let aaaa = one_question(NAME, 28);
        assert_eq!(
            r.handle_datagram(now, querier(5353), &aaaa, &mut out),
            Some(Destination::Multicast)
        );
        assert_eq!(&out[6..12], &[0, 0, 0, 0, 0, 1], "only the NSEC record");
        let a = one_question(NAME, 1);
        let later = now + Duration::from_millis(5);
        assert_eq!(
            r.handle_datagram(later, querier(5353), &a, &mut out),
            Some(Destination::Multicast),
            "the A record was not multicast yet"
        );
        assert_eq!(addresses(&out, NAME), [IpAddr::from([192, 168, 1, 23])]);
        assert_eq!(&out[10..12], &[0, 0], "the NSEC record is not sent again");
        // Both records went out within the second: nothing is due.
        let both = query(NAME);
        let mut plain = both.clone();
        plain[58] &= 0x7f;
        let at = plain.len() - 2;
        plain[at] &= 0x7f;
        assert_eq!(
            r.handle_datagram(later, querier(5353), &plain, &mut out),
            None
        );
        assert_eq!(r.stats().answers, 2);
    }

    /// RFC 6762 §6.1: a question for a type our name has no record of
    /// (TXT here) is answered with the NSEC record that says so, and no
    /// address record.
    #[test]
    fn a_question_for_another_type_of_our_name_gets_the_nsec_record() {
        let mut r = responder();
        let mut out = Vec::new();
        let txt = one_question(NAME, 16);
        assert_eq!(
            r.handle_datagram(Instant::now(), querier(5353), &txt, &mut out),
            Some(Destination::Multicast)
        );
        assert_eq!(&out[6..8], &[0, 0], "no address record");
        assert_eq!(&out[10..12], &[0, 1], "the NSEC record");
    }

    #[test]
    fn a_qu_question_from_port_5353_is_answered_by_unicast() {
        let mut r = responder();
        let mut out = Vec::new();
        let to = r.handle_datagram(Instant::now(), querier(5353), &query(NAME), &mut out);
        assert_eq!(to, Some(Destination::Unicast(querier(5353))));
        assert_eq!(first_answer_class_and_ttl(&out), (0x8001, HOST_TTL));
    }

    #[test]
    fn names_match_without_regard_to_case() {
        let mut r = responder();
        let mut out = Vec::new();
        let q = query(&NAME.to_ascii_uppercase());
        assert!(
            r.handle_datagram(Instant::now(), querier(40000), &q, &mut out)
                .is_some()
        );
    }

    #[test]
    fn unknown_names_responses_and_off_link_queriers_get_nothing() {
        let mut r = responder();
        let mut out = Vec::new();
        let now = Instant::now();
        let other = query("2f5e7a3c-2b4d-4e6f-8a9b-0c1d2e3f4a5b.local");
        assert_eq!(
            r.handle_datagram(now, querier(40000), &other, &mut out),
            None
        );
        // Another responder's answer on the group.
        let mut answer = Vec::new();
        wire::write_response(
            Framing::Mdns { ttl: 120 },
            &[(
                Record {
                    name: NAME,
                    ip: [10, 0, 0, 1].into(),
                },
                Wanted::ADDRESS,
            )],
            &[],
            &mut answer,
        );
        assert_eq!(
            r.handle_datagram(now, querier(5353), &answer, &mut out),
            None
        );
        // A query routed from another network.
        let far = SocketAddr::new(Ipv4Addr::new(203, 0, 113, 5).into(), 40000);
        assert_eq!(r.handle_datagram(now, far, &query(NAME), &mut out), None);
        let s = r.stats();
        assert_eq!((s.queries, s.ignored, s.answers, s.malformed), (2, 2, 0, 0));
    }

    #[test]
    fn malformed_queries_are_dropped_and_counted() {
        let mut r = responder();
        let mut out = Vec::new();
        let full = query(NAME);
        for len in 0..full.len() {
            assert_eq!(
                r.handle_datagram(Instant::now(), querier(40000), &full[..len], &mut out),
                None
            );
        }
        assert_eq!(r.stats().malformed, full.len() as u64);
        assert_eq!(r.stats().answers, 0);
    }

    #[test]
    fn unregistering_writes_a_goodbye_and_stops_the_answers() {
        let mut r = responder();
        let mut out = Vec::new();
        assert!(r.unregister([NAME, NAME6], &mut out));
        // §10.1: the same records with TTL 0, which the resolver reads as
        // giving nothing.
        assert_eq!(&out[6..8], &[0, 2]);
        assert_eq!(first_answer_class_and_ttl(&out), (0x8001, 0));
        let mut cleared = Vec::new();
        wire::write_response(
            Framing::Mdns { ttl: HOST_TTL },
            &[(
                Record {
                    name: NAME,
                    ip: [192, 168, 1, 23].into(),
                },
                Wanted::ADDRESS,
            )],
            &[],
            &mut cleared,
        );
        let body = |m: &[u8]| {
            let mut m = m.to_vec();
            m.truncate(12 + NAME.len() + 2 + 4);
            m[6..8].copy_from_slice(&[0, 0]);
            m
        };
        assert_eq!(body(&out), body(&cleared), "the same record, TTL aside");
        assert!(addresses(&out, NAME).is_empty());
        assert_eq!(r.len(), 0);
        assert_eq!(
            r.handle_datagram(Instant::now(), querier(40000), &query(NAME), &mut out),
            None
        );
        assert!(
            !r.unregister([NAME], &mut out),
            "nothing left to say goodbye to"
        );
        assert_eq!(r.stats().goodbyes, 1);
    }

    #[test]
    fn a_name_is_registered_once_and_the_table_is_bounded() {
        let mut r = responder();
        assert_eq!(
            r.register(&NAME.to_ascii_uppercase(), [10, 0, 0, 1].into()),
            Err(RegisterError::Taken(NAME.into()))
        );
        assert!(r.register("example.com", [10, 0, 0, 1].into()).is_err());
        for i in r.len()..MAX_NAMES {
            r.register(&format!("n{i}.local"), [10, 0, 0, 1].into())
                .unwrap();
        }
        assert_eq!(
            r.register("last.local", [10, 0, 0, 1].into()),
            Err(RegisterError::Full)
        );
    }
}
