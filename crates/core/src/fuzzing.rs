//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): a
//! stateful target that feeds hostile datagrams to a connected
//! [`PeerConnection`].

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use ferrtc_dtls::Certificate;

use crate::{ChannelId, Config, DataChannelInit, DataChannelMessage, Event, PeerConnection};

/// Most datagrams one `poll_transmit` drain may produce before the harness
/// calls it a livelock (a connection never runs out of output).
const MAX_DRAIN: usize = 10_000;
/// Most events one `poll_event` drain may produce.
const MAX_EVENTS: usize = 100_000;
/// Virtual time the harness gives the pair to connect and open a channel.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);
/// Time steps a fuzz record may advance the clock by (index = low 3 bits).
const STEPS_MS: [u64; 8] = [0, 1, 10, 50, 200, 1_000, 5_000, 30_000];

/// A fixed wall clock: certificates are made once and valid for it.
fn wall_clock() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// The two certificates, generated once per process: key generation would
/// otherwise dominate every run.
fn certificates() -> Option<&'static (Certificate, Certificate)> {
    static CERTS: OnceLock<Option<(Certificate, Certificate)>> = OnceLock::new();
    CERTS
        .get_or_init(|| {
            let now = wall_clock();
            Some((
                Certificate::generate(now).ok()?,
                Certificate::generate(now).ok()?,
            ))
        })
        .as_ref()
}

/// One side of the in-memory pair.
struct Side {
    pc: PeerConnection,
    addr: SocketAddr,
    opened: Vec<ChannelId>,
    messages: Vec<DataChannelMessage>,
}

/// Two peer connections wired back to back in memory, in virtual time.
struct Pair {
    now: Instant,
    a: Side,
    b: Side,
    buf: Vec<u8>,
}

impl Side {
    fn new(seed: u8, certificate: Certificate, addr: SocketAddr, now: Instant) -> Option<Side> {
        let config = Config {
            rng_seed: Some([seed; 32]),
            certificate: Some(certificate),
            ..Config::default()
        };
        let mut pc = PeerConnection::new(config, now, wall_clock()).ok()?;
        pc.add_local_host(now, addr).ok()?;
        Some(Side {
            pc,
            addr,
            opened: Vec::new(),
            messages: Vec::new(),
        })
    }

    /// Drains events, keeping opens and messages; returns the trickled
    /// candidates. Panics if the drain does not terminate.
    fn events(&mut self) -> Vec<crate::IceCandidateInit> {
        let mut candidates = Vec::new();
        for _ in 0..MAX_EVENTS {
            match self.pc.poll_event() {
                None => return candidates,
                Some(Event::IceCandidate(c)) => candidates.push(c),
                Some(Event::ChannelOpen(id)) => self.opened.push(id),
                Some(Event::ChannelMessage { message, .. }) => self.messages.push(message),
                Some(_) => {}
            }
        }
        panic!("poll_event did not run dry after {MAX_EVENTS} events");
    }
}

impl Pair {
    /// Builds the pair, negotiates a data channel created by `a`, and runs
    /// until it is open on both sides.
    fn connect() -> Option<(Pair, ChannelId)> {
        let (cert_a, cert_b) = certificates()?;
        let now = Instant::now();
        let a = Side::new(1, cert_a.clone(), "10.0.0.1:5000".parse().ok()?, now)?;
        let b = Side::new(2, cert_b.clone(), "10.0.0.2:5000".parse().ok()?, now)?;
        let mut pair = Pair {
            now,
            a,
            b,
            buf: Vec::with_capacity(2048),
        };
        let channel = pair
            .a
            .pc
            .create_data_channel(now, "fuzz", DataChannelInit::default())
            .ok()?;
        // RFC 8829 §5.2-5.3: offer from a, answer from b.
        let offer = pair.a.pc.create_offer().ok()?;
        pair.a
            .pc
            .set_local_description(now, Some(offer.clone()))
            .ok()?;
        pair.b.pc.set_remote_description(now, offer).ok()?;
        let answer = pair.b.pc.create_answer().ok()?;
        pair.b
            .pc
            .set_local_description(now, Some(answer.clone()))
            .ok()?;
        pair.a.pc.set_remote_description(now, answer).ok()?;
        let deadline = now + CONNECT_LIMIT;
        while pair.a.opened.is_empty() || pair.b.opened.is_empty() {
            if pair.now >= deadline {
                return None;
            }
            pair.step();
        }
        Some((pair, channel))
    }

    /// Signals candidates, delivers every datagram in flight both ways,
    /// then moves the clock to the earliest timer.
    fn step(&mut self) {
        self.pump();
        let next = [self.a.pc.poll_timeout(), self.b.pc.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.now + Duration::from_millis(100));
        self.advance_to(next.max(self.now + Duration::from_millis(1)));
    }

    /// Trickles candidates and delivers datagrams until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..64 {
            let from_a = self.a.events();
            let from_b = self.b.events();
            for c in &from_a {
                let _ = self.b.pc.add_ice_candidate(self.now, c);
            }
            for c in &from_b {
                let _ = self.a.pc.add_ice_candidate(self.now, c);
            }
            let moved = deliver(self.now, &mut self.a, &mut self.b, &mut self.buf)
                + deliver(self.now, &mut self.b, &mut self.a, &mut self.buf);
            if moved == 0 && from_a.is_empty() && from_b.is_empty() {
                return;
            }
        }
    }

    /// Moves the clock to `at`, firing both sides' timers.
    fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.a.pc.handle_timeout(self.now);
        self.b.pc.handle_timeout(self.now);
    }
}

/// Delivers everything `from` has to send to `to`; returns how many
/// datagrams went. Panics if `from` never runs out of datagrams.
fn deliver(now: Instant, from: &mut Side, to: &mut Side, buf: &mut Vec<u8>) -> usize {
    for sent in 0..MAX_DRAIN {
        buf.clear();
        let Some(t) = from.pc.poll_transmit(now, buf) else {
            return sent;
        };
        if t.destination == to.addr {
            to.pc.handle_receive(now, t.source, t.destination, buf);
        }
    }
    panic!("poll_transmit did not run dry after {MAX_DRAIN} datagrams");
}

/// What [`datagrams`] saw, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the pair connected (false only if setup itself failed).
    pub connected: bool,
    /// Hostile datagrams fed.
    pub fed: usize,
    /// Whether a message each way crossed afterwards (checked only for
    /// empty input, where it must).
    pub both_ways: Option<bool>,
}

/// Connects two peer connections in memory (offer/answer, trickled
/// candidates, ICE, DTLS, SCTP, one open data channel), then feeds `data`
/// to them as hostile datagrams.
///
/// `data` is a list of records `[ctrl, len_hi, len_lo, bytes...]`: `bytes`
/// (up to `len` of them) arrive as one datagram, at the answerer from the
/// offerer's address, or (bit 5 of `ctrl`) at the offerer from the
/// answerer's, or (bit 4) from an address neither knows; if bit 3 is set,
/// genuine traffic is exchanged next; then the clock moves by
/// `STEPS_MS[ctrl & 7]` and both sides' timers fire. Checks that nothing panics,
/// that every `poll_transmit` and `poll_event` drain terminates, and, for
/// empty input, that a message still crosses each way.
pub fn datagrams(data: &[u8]) -> Outcome {
    let Some((mut pair, a_chan)) = Pair::connect() else {
        return Outcome {
            connected: false,
            fed: 0,
            both_ways: None,
        };
    };
    let mut rest = data;
    let mut fed = 0;
    while let Some((&[ctrl, hi, lo], tail)) = rest.split_first_chunk::<3>() {
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        rest = tail;
        // Bit 5: the offerer (DTLS server) is the target instead.
        let (from, to) = if ctrl & 0x20 != 0 {
            (&pair.b, &mut pair.a)
        } else {
            (&pair.a, &mut pair.b)
        };
        // Bit 4: from an address ICE never heard of, not the peer's.
        let source = if ctrl & 0x10 != 0 {
            SocketAddr::from(([10, 0, 0, 3], 5000 + u16::from(ctrl >> 6)))
        } else {
            from.addr
        };
        to.pc
            .handle_receive(pair.now, source, to.addr, &mut datagram.to_vec());
        fed += 1;
        if ctrl & 0x08 != 0 {
            pair.pump();
        } else {
            // Drain what the target says back (into the void) and its events.
            let _ = to.events();
            let _ = drain(pair.now, to, &mut pair.buf);
        }
        let step = Duration::from_millis(STEPS_MS[usize::from(ctrl & 7)]);
        let at = pair.now + step;
        pair.advance_to(at);
    }
    pair.pump();
    let both_ways = data.is_empty().then(|| exchange(&mut pair, a_chan));
    if let Some(ok) = both_ways {
        assert!(
            ok,
            "with no hostile input a message must still cross each way"
        );
    }
    Outcome {
        connected: true,
        fed,
        both_ways,
    }
}

/// Drains a side's datagrams without delivering them.
fn drain(now: Instant, side: &mut Side, buf: &mut Vec<u8>) -> usize {
    for sent in 0..MAX_DRAIN {
        buf.clear();
        if side.pc.poll_transmit(now, buf).is_none() {
            return sent;
        }
    }
    panic!("poll_transmit did not run dry after {MAX_DRAIN} datagrams");
}

/// Sends one message each way and runs until both arrive (or 10 s pass).
fn exchange(pair: &mut Pair, a_chan: ChannelId) -> bool {
    let Some(&b_chan) = pair.b.opened.first() else {
        return false;
    };
    pair.a.messages.clear();
    pair.b.messages.clear();
    if pair.a.pc.send(pair.now, a_chan, b"ping", true).is_err()
        || pair.b.pc.send(pair.now, b_chan, b"pong", true).is_err()
    {
        return false;
    }
    let deadline = pair.now + Duration::from_secs(10);
    while pair.now < deadline {
        pair.step();
        let got = |s: &Side, m: &[u8]| s.messages.iter().any(|x| x.as_bytes() == m);
        if got(&pair.b, b"ping") && got(&pair.a, b"pong") {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::datagrams;

    #[test]
    fn a_connected_pair_still_carries_messages_both_ways_after_no_input() {
        let outcome = datagrams(&[]);
        assert!(outcome.connected);
        assert_eq!(outcome.both_ways, Some(true));
    }

    #[test]
    fn garbage_datagrams_of_every_demux_class_are_survived() {
        let mut data = Vec::new();
        // One datagram per first-byte class of RFC 7983 (STUN, DTLS, RTP,
        // other), empty ones, one cut short by the input's end, and time
        // steps up to 30 s with and without genuine traffic in between.
        for (i, first) in [0u8, 1, 20, 23, 63, 64, 128, 191, 200, 255]
            .into_iter()
            .enumerate()
        {
            let body: Vec<u8> = (0..40u8).map(|j| first ^ j.wrapping_mul(37)).collect();
            data.extend_from_slice(&[i as u8, 0, 41, first]);
            data.extend_from_slice(&body);
            data.extend_from_slice(&[0x08 | (i as u8 % 8), 0, 0]);
        }
        // To the offerer, and from an unknown address, each way.
        for ctrl in [0x20u8, 0x10, 0x30, 0xf8] {
            data.extend_from_slice(&[ctrl, 0, 4, 0x17, 0xfe, 0xfd, 0]);
        }
        data.extend_from_slice(&[7, 0xff, 0xff, 0x16, 0xfe, 0xfd]);
        let outcome = datagrams(&data);
        assert!(outcome.connected);
        assert_eq!(outcome.fed, 25);
        assert_eq!(outcome.both_ways, None);
    }
}
