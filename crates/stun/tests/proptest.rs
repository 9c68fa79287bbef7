//! Property tests: every attribute survives write-then-parse unchanged, and
//! the parser never panics on arbitrary or mutated bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ferrtc_stun::{
    AddressFamily, Attribute, Class, MAGIC_COOKIE, Message, MessageBuilder, Method,
    PasswordAlgorithmValue, PasswordAlgorithms, TransactionId, UnknownAttributes, attribute_type,
    is_stun_message,
};
use proptest::prelude::*;

/// Owned data from which any [`Attribute`] can be borrowed.
#[derive(Debug, Clone)]
struct Owned {
    kind: u8,
    text: String,
    domain: String,
    bytes: Vec<u8>,
    hash: [u8; 32],
    addr: SocketAddr,
    n16: u16,
    n32: u32,
    n64: u64,
    flag: bool,
    family: AddressFamily,
    code: u16,
    unknown_typ: u16,
    types: Vec<u16>,
    algs: Vec<(u16, Vec<u8>)>,
}

/// Number of `kind`s [`Owned::view`] knows: every non-computed variant.
const KINDS: u8 = 31;

impl Owned {
    /// The PASSWORD-ALGORITHMS entries, borrowed from `algs`.
    fn alg_views(&self) -> Vec<PasswordAlgorithmValue<'_>> {
        self.algs
            .iter()
            .map(|(algorithm, parameters)| PasswordAlgorithmValue {
                algorithm: *algorithm,
                parameters,
            })
            .collect()
    }

    /// The attribute of kind `self.kind`; `algs` is `self.alg_views()`.
    fn view<'a>(&'a self, algs: &'a [PasswordAlgorithmValue<'a>]) -> Attribute<'a> {
        match self.kind {
            0 => Attribute::MappedAddress(self.addr),
            1 => Attribute::XorMappedAddress(self.addr),
            2 => Attribute::Username(&self.text),
            3 => Attribute::UserHash(&self.hash),
            4 => Attribute::ErrorCode {
                code: self.code,
                reason: &self.text,
            },
            5 => Attribute::Realm(&self.text),
            6 => Attribute::Nonce(&self.text),
            7 => Attribute::PasswordAlgorithms(PasswordAlgorithms::new(algs)),
            8 => Attribute::PasswordAlgorithm(PasswordAlgorithmValue {
                algorithm: self.n16,
                parameters: &self.bytes,
            }),
            9 => Attribute::UnknownAttributes(UnknownAttributes::new(&self.types)),
            10 => Attribute::Software(&self.text),
            11 => Attribute::AlternateServer(self.addr),
            12 => Attribute::AlternateDomain(&self.domain),
            13 => Attribute::Priority(self.n32),
            14 => Attribute::UseCandidate,
            15 => Attribute::IceControlled(self.n64),
            16 => Attribute::IceControlling(self.n64),
            17 => Attribute::ChannelNumber(self.n16),
            18 => Attribute::Lifetime(self.n32),
            19 => Attribute::XorPeerAddress(self.addr),
            20 => Attribute::Data(&self.bytes),
            21 => Attribute::XorRelayedAddress(self.addr),
            22 => Attribute::RequestedAddressFamily(self.family),
            23 => Attribute::EvenPort { reserve: self.flag },
            24 => Attribute::RequestedTransport(self.n16 as u8),
            25 => Attribute::DontFragment,
            26 => Attribute::ReservationToken(self.n64),
            27 => Attribute::AdditionalAddressFamily(self.family),
            28 => Attribute::AddressErrorCode {
                family: self.family,
                code: self.code,
                reason: &self.text,
            },
            29 => Attribute::Icmp {
                typ: (self.n16 >> 9) as u8,
                code: self.n16 & 0x01FF,
                data: self.n32,
            },
            _ => Attribute::Unknown {
                typ: self.unknown_typ,
                value: &self.bytes,
            },
        }
    }
}

fn arb_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

fn arb_owned() -> impl Strategy<Value = Owned> {
    (
        (
            0..KINDS,
            "\\PC{0,60}",
            "[a-z0-9.-]{0,80}",
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<[u8; 32]>(),
            arb_addr(),
        ),
        (
            any::<u16>(),
            any::<u32>(),
            any::<u64>(),
            any::<bool>(),
            prop_oneof![Just(AddressFamily::Ipv4), Just(AddressFamily::Ipv6)],
            300u16..700,
            any::<u16>().prop_filter("not a typed attribute", |t| !attribute_type::is_known(*t)),
            proptest::collection::vec(any::<u16>(), 0..12),
            proptest::collection::vec(
                (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..10)),
                0..5,
            ),
        ),
    )
        .prop_map(
            |(
                (kind, text, domain, bytes, hash, addr),
                (n16, n32, n64, flag, family, code, unknown_typ, types, algs),
            )| Owned {
                kind,
                text,
                domain,
                bytes,
                hash,
                addr,
                n16,
                n32,
                n64,
                flag,
                family,
                code,
                unknown_typ,
                types,
                algs,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_attribute_round_trips_through_a_message(
        owned in proptest::collection::vec(arb_owned(), 1..6),
        tid in any::<[u8; 12]>(),
        method in 0u16..0x1000,
        class in 0u16..4,
        key in proptest::collection::vec(any::<u8>(), 0..40),
        integrity in any::<bool>(),
        fingerprint in any::<bool>(),
    ) {
        let class = [Class::Request, Class::Indication, Class::SuccessResponse, Class::ErrorResponse][class as usize];
        let tid = TransactionId(tid);
        let views: Vec<_> = owned.iter().map(Owned::alg_views).collect();
        let attrs: Vec<Attribute<'_>> = owned.iter().zip(&views).map(|(o, v)| o.view(v)).collect();
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, class, Method(method), tid);
        for a in &attrs {
            b.add(a).unwrap();
        }
        if integrity {
            b.add_message_integrity(&key);
            b.add_message_integrity_sha256(&key);
        }
        if fingerprint {
            b.add_fingerprint();
        }
        let len = b.finish();
        prop_assert_eq!(len, buf.len());
        prop_assert!(is_stun_message(&buf));

        let msg = Message::parse(&buf).unwrap();
        prop_assert_eq!(msg.class(), class);
        prop_assert_eq!(msg.method(), Method(method));
        prop_assert_eq!(msg.transaction_id(), tid);
        let parsed: Vec<Attribute<'_>> = msg
            .attributes()
            .take(attrs.len())
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(&parsed, &attrs);
        prop_assert_eq!(msg.verify_message_integrity(&key).is_ok(), integrity);
        prop_assert_eq!(msg.verify_message_integrity_sha256(&key).is_ok(), integrity);
        prop_assert_eq!(msg.verify_fingerprint().is_ok(), fingerprint);
        // Unknown comprehension-required types are exactly the raw ones we added.
        let expected_unknown: Vec<u16> = attrs
            .iter()
            .filter_map(|a| match a {
                Attribute::Unknown { typ, .. } if *typ < 0x8000 => Some(*typ),
                _ => None,
            })
            .collect();
        prop_assert_eq!(msg.unknown_comprehension_required().collect::<Vec<_>>(), expected_unknown);
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        walk(&bytes);
    }

    #[test]
    fn parsing_arbitrary_bodies_behind_a_valid_header_never_panics(
        words in proptest::collection::vec(any::<[u8; 4]>(), 0..80),
        typ in 0u16..0x4000,
    ) {
        let body: Vec<u8> = words.concat();
        let mut m = Vec::new();
        m.extend_from_slice(&typ.to_be_bytes());
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        walk(&m);
    }

    #[test]
    fn mutating_a_valid_message_never_panics(
        owned in proptest::collection::vec(arb_owned(), 1..5),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TransactionId([1; 12]));
        for o in &owned {
            b.add(&o.view(&o.alg_views())).unwrap();
        }
        b.add_message_integrity(b"k");
        b.add_fingerprint();
        b.finish();
        for (at, x) in flips {
            let i = at % buf.len();
            buf[i] ^= x;
        }
        walk(&buf);
    }
}

/// Parses and touches everything a caller could reach.
fn walk(bytes: &[u8]) {
    let _ = is_stun_message(bytes);
    if let Ok(msg) = Message::parse(bytes) {
        for a in msg.attributes().flatten() {
            match a {
                Attribute::PasswordAlgorithms(l) => l.iter().for_each(drop),
                Attribute::UnknownAttributes(l) => l.iter().for_each(drop),
                _ => {}
            }
        }
        msg.unknown_comprehension_required().for_each(drop);
        let _ = msg.verify_message_integrity(b"k");
        let _ = msg.verify_message_integrity_sha256(b"k");
        let _ = msg.verify_fingerprint();
    }
}
