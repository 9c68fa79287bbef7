//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_stun::{
    Attribute, Class, Message, MessageBuilder, PasswordAlgorithm, TransactionId, long_term_key,
};

use crate::{Client, ClientConfig, StreamDecoder, Transport};

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)),
    3478,
);
const PEER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9)),
    7000,
);
const OTHER_PEER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7)),
    9000,
);

/// The server's answer to the request in `request`: a 401 challenge, or a
/// success signed with the MD5 long-term key (RFC 8489 §9.2).
fn answer(request: &[u8], challenge: bool) -> Option<Vec<u8>> {
    let msg = Message::parse(request).ok()?;
    let mut out = Vec::new();
    let class = if challenge {
        Class::ErrorResponse
    } else {
        Class::SuccessResponse
    };
    let mut b = MessageBuilder::new(&mut out, class, msg.method(), msg.transaction_id());
    if challenge {
        b.add(&Attribute::ErrorCode {
            code: 401,
            reason: "Unauthorized",
        })
        .ok()?;
        b.add(&Attribute::Realm("fuzz")).ok()?;
        b.add(&Attribute::Nonce("nonce")).ok()?;
    } else {
        b.add(&Attribute::XorRelayedAddress(SocketAddr::from((
            [192, 0, 2, 1],
            50000,
        ))))
        .ok()?;
        b.add(&Attribute::XorMappedAddress(SocketAddr::from((
            [198, 51, 100, 1],
            40000,
        ))))
        .ok()?;
        b.add(&Attribute::Lifetime(600)).ok()?;
        let key = long_term_key("user", "fuzz", "pass", PasswordAlgorithm::Md5);
        b.try_add_message_integrity(&key).ok()?;
    }
    b.finish();
    Some(out)
}

/// Sends what the client has and answers each request; the transaction
/// ids of requests left unanswered when `answer_them` is false.
fn exchange(c: &mut Client, now: Instant, answer_them: bool) -> Vec<TransactionId> {
    let mut buf = Vec::new();
    let mut pending = Vec::new();
    while c.poll_transmit(now, &mut buf).is_some() {
        let Ok(msg) = Message::parse(&buf) else {
            continue;
        };
        if answer_them {
            if let Some(a) = answer(&buf, false) {
                c.handle_receive(now, SERVER, &a);
            }
        } else {
            pending.push(msg.transaction_id());
        }
    }
    pending
}

/// An allocated client with a permission and a channel for one peer, and
/// a CreatePermission and a ChannelBind in flight for another; `None` if
/// the scripted exchange did not get there.
fn allocated_client(transport: Transport, now: Instant) -> Option<(Client, Vec<TransactionId>)> {
    let config = ClientConfig {
        seed: Some(1),
        transport,
        ..ClientConfig::new(SERVER, "user", "pass")
    };
    let mut c = Client::new(config, now);
    let mut buf = Vec::new();
    c.poll_transmit(now, &mut buf)?;
    c.handle_receive(now, SERVER, &answer(&buf, true)?);
    exchange(&mut c, now, true);
    c.relayed_address()?;
    c.create_permission(PEER.ip(), now).ok()?;
    c.bind_channel(PEER, now).ok()?;
    exchange(&mut c, now, true);
    c.create_permission(OTHER_PEER.ip(), now).ok()?;
    c.bind_channel(OTHER_PEER, now).ok()?;
    let live = exchange(&mut c, now, false);
    while c.poll_event().is_some() {}
    Some((c, live))
}

/// Feeds `data` to an allocated client as bytes from its server, reaching
/// live transactions: the first byte chooses UDP datagrams (each behind a
/// 2-byte length) or a TCP stream cut by [`StreamDecoder`], and whether
/// STUN-looking datagrams get the id of an in-flight request spliced in.
/// Then runs the timers far ahead. Never panics.
pub fn client_receive(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let stream = mode & 1 != 0;
    let splice = mode & 2 != 0;
    let transport = if stream {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let Some((mut c, live)) = allocated_client(transport, now) else {
        return;
    };
    let feed = |c: &mut Client, datagram: &[u8], i: usize| {
        let mut d = datagram.to_vec();
        if splice
            && d.len() >= 20
            && let Some(tid) = live.get(i % live.len().max(1))
        {
            d[8..20].copy_from_slice(tid.as_bytes());
        }
        c.handle_receive(now, SERVER, &d);
        let _ = c.receive(now, SERVER, &d);
    };
    if stream {
        let mut decoder = StreamDecoder::new();
        if decoder.push(rest).is_ok() {
            let mut i = 0;
            while let Ok(Some(frame)) = decoder.next_frame() {
                let frame = frame.to_vec();
                feed(&mut c, &frame, i);
                i += 1;
            }
        }
    } else {
        let mut rest = rest;
        let mut i = 0;
        while let Some((len, tail)) = rest.split_first_chunk::<2>() {
            let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
            let (datagram, tail) = tail.split_at(len);
            feed(&mut c, datagram, i);
            rest = tail;
            i += 1;
        }
    }
    let _ = c.send_to(PEER, b"data");
    let mut buf = Vec::new();
    for secs in [1, 40, 250, 301, 700] {
        let t = now + Duration::from_secs(secs);
        c.handle_timeout(t);
        while c.poll_transmit(t, &mut buf).is_some() {}
        while c.poll_event().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_entry_reaches_an_allocated_client_with_live_transactions() {
        let (c, live) = allocated_client(Transport::Udp, Instant::now()).expect("allocated");
        assert!(c.has_permission(PEER.ip()));
        assert_eq!(live.len(), 2);
        client_receive(&[2, 0, 20, 1, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]);
        client_receive(&[1, 0x40, 0, 0, 1, 9, 0, 0, 0]);
    }

    #[test]
    fn random_server_bytes_never_panic_the_client() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(8656);
        for _ in 0..500 {
            let len = rng.random_range(0..300);
            let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Mostly plausible first bytes: STUN or ChannelData.
            if let Some(b) = data.get_mut(3) {
                *b &= 0x7F;
            }
            client_receive(&data);
        }
    }
}
