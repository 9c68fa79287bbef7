//! Two ICE agents connect over real UDP sockets on loopback, then exchange
//! datagrams through the selected candidate pair.
//!
//! The agents are sans-IO: this example owns the sockets and the clock, hands
//! each agent's candidates to the other (in-process "signaling"), and moves
//! datagrams between the sockets and the agents.
//!
//! Run it with `cargo run --release -p ferrtc-ice --example ice_loopback`.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ferrtc_ice::{Agent, AgentConfig, ConnectionState, Event, Receive};

const PINGS: usize = 1000;
const DEADLINE: Duration = Duration::from_secs(10);

/// One side: an agent and the sockets its host candidates live on.
struct Side {
    name: &'static str,
    agent: Agent,
    sockets: Vec<UdpSocket>,
}

impl Side {
    fn new(
        name: &'static str,
        controlling: bool,
        seed: u64,
        now: Instant,
    ) -> std::io::Result<Side> {
        let config = AgentConfig {
            controlling,
            seed: Some(seed),
            ..AgentConfig::default()
        };
        let mut agent = Agent::new(config, now);
        let mut sockets = Vec::new();
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            // IPv6 loopback may be missing (some containers): use what binds.
            let Ok(socket) = UdpSocket::bind(addr) else {
                continue;
            };
            socket.set_nonblocking(true)?;
            if agent.add_local_host(socket.local_addr()?).is_ok() {
                sockets.push(socket);
            }
        }
        Ok(Side {
            name,
            agent,
            sockets,
        })
    }

    /// Sends everything the agent wants sent.
    fn flush(&mut self, now: Instant, buf: &mut Vec<u8>) -> std::io::Result<()> {
        while let Some(t) = self.agent.poll_transmit(now, buf) {
            self.send_from(t.source, t.destination, buf)?;
        }
        Ok(())
    }

    fn send_from(
        &self,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> std::io::Result<()> {
        match self
            .sockets
            .iter()
            .find(|s| s.local_addr().ok() == Some(source))
        {
            Some(socket) => socket.send_to(data, destination).map(drop),
            None => Ok(()),
        }
    }

    /// Reads every datagram waiting on the sockets; returns the application data.
    fn receive(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        data: &mut Vec<Vec<u8>>,
    ) -> std::io::Result<()> {
        for socket in &self.sockets {
            let local = socket.local_addr()?;
            loop {
                match socket.recv_from(buf) {
                    Ok((n, from)) => {
                        if let Receive::Data(d) =
                            self.agent.handle_receive(now, from, local, &buf[..n])
                        {
                            data.push(d.to_vec());
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut a = Side::new("A", true, 1, start)?;
    let mut b = Side::new("B", false, 2, start)?;

    // Signaling: exchange credentials, then candidates as they are found.
    let (ua, pa) = (
        a.agent.local_credentials().ufrag().to_owned(),
        a.agent.local_credentials().pwd().to_owned(),
    );
    let (ub, pb) = (
        b.agent.local_credentials().ufrag().to_owned(),
        b.agent.local_credentials().pwd().to_owned(),
    );
    b.agent.set_remote_credentials(&ua, &pa)?;
    a.agent.set_remote_credentials(&ub, &pb)?;

    let mut buf = Vec::with_capacity(1500);
    let mut rx = vec![0u8; 2048];
    let mut connected_at = None;
    let mut pings_sent = 0usize;
    let mut ping_sent_at = start;
    let mut rtts = Vec::with_capacity(PINGS);

    while rtts.len() < PINGS {
        let now = Instant::now();
        if now - start > DEADLINE {
            return Err(format!(
                "gave up after {DEADLINE:?}: {} of {PINGS} pings answered",
                rtts.len()
            )
            .into());
        }
        pump(&mut a, &mut b, now, start, &mut buf)?;
        pump(&mut b, &mut a, now, start, &mut buf)?;
        if connected_at.is_none()
            && a.agent.selected_pair().is_some()
            && b.agent.selected_pair().is_some()
        {
            connected_at = Some(now);
            a.agent.end_of_remote_candidates();
            b.agent.end_of_remote_candidates();
        }

        // Data path: A pings through its selected pair, B echoes, A times the round trip.
        if connected_at.is_some() && pings_sent == rtts.len() {
            let ping = format!("ping {pings_sent}");
            let mut datagram = ping.clone().into_bytes();
            let t = a.agent.send(&mut datagram)?;
            a.send_from(t.source, t.destination, &datagram)?;
            pings_sent += 1;
            ping_sent_at = Instant::now();
        }
        let mut at_b = Vec::new();
        b.receive(now, &mut rx, &mut at_b)?;
        for mut d in at_b {
            let t = b.agent.send(&mut d)?;
            b.send_from(t.source, t.destination, &d)?;
        }
        let mut at_a = Vec::new();
        a.receive(Instant::now(), &mut rx, &mut at_a)?;
        for d in at_a {
            if d == format!("ping {}", pings_sent - 1).as_bytes() {
                rtts.push(ping_sent_at.elapsed());
            }
        }
        std::thread::yield_now();
    }

    let connected = connected_at.map(|t| t - start).unwrap_or_default();
    rtts.sort();
    println!();
    println!("connected after      {:.3} ms", ms(connected));
    println!(
        "selected pair (A)    {:?}",
        a.agent.selected_pair().map(|p| (p.source, p.destination))
    );
    println!(
        "{PINGS} pings         median round trip {:.1} us, p99 {:.1} us",
        rtts[PINGS / 2].as_secs_f64() * 1e6,
        rtts[PINGS * 99 / 100].as_secs_f64() * 1e6
    );
    println!("agent A stats        {:?}", a.agent.stats());
    Ok(())
}

/// Runs `me`'s timers, hands its new candidates to `other`, reports its
/// events and sends what it wants sent.
fn pump(
    me: &mut Side,
    other: &mut Side,
    now: Instant,
    start: Instant,
    buf: &mut Vec<u8>,
) -> Result<(), Box<dyn std::error::Error>> {
    if me.agent.poll_timeout().is_some_and(|t| t <= now) {
        me.agent.handle_timeout(now);
    }
    while let Some(event) = me.agent.poll_event() {
        match event {
            Event::LocalCandidate(c) => {
                println!("{}: {c}", me.name);
                other.agent.add_remote_candidate(c)?;
            }
            Event::ConnectionStateChange { state, reason } => {
                let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                println!(
                    "{}: {:>7.3} ms  ICE {state:?}{why}",
                    me.name,
                    ms(now - start)
                );
                if state == ConnectionState::Failed {
                    return Err("ICE failed".into());
                }
            }
            Event::SelectedPairChange(p) => {
                println!(
                    "{}: selected pair {} -> {}",
                    me.name, p.source, p.destination
                );
            }
            other_event => println!("{}: {other_event:?}", me.name),
        }
    }
    me.flush(now, buf)?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
