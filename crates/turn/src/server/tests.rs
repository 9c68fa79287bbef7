//! The sans-IO server as a specification: authentication, nonces, quotas,
//! forbidden peers, channels, relaying in place, malformed input.

use super::*;

const REALM: &str = "ferrtc.test";
const UNIX0: u64 = 1_700_000_000;

fn tuple(port: u16) -> FiveTuple {
    FiveTuple {
        transport: Transport::Udp,
        client: SocketAddr::from(([192, 0, 2, 10], port)),
        server: "198.51.100.1:3478".parse().unwrap(),
    }
}

struct Fx {
    server: Server,
    now: Instant,
    out: Vec<u8>,
    next_tid: u8,
    relay_port: u16,
}

/// How a test request authenticates.
#[derive(Clone)]
struct Cred {
    user: String,
    pass: String,
    nonce: String,
    sha256: bool,
}

fn config() -> ServerConfig {
    let users = Credentials::parse_users("alice:wonderland\nbob:builder\n").unwrap();
    let mut c = ServerConfig::new(REALM, Credentials::new(users, Some("s3cret")), b"nonce key");
    c.policy = PeerPolicy {
        allow_loopback: false,
        allow_private: false,
    };
    c
}

impl Fx {
    fn new() -> Fx {
        Fx::with(config())
    }

    fn with(config: ServerConfig) -> Fx {
        let now = Instant::now();
        Fx {
            server: Server::new(config, now, UNIX0),
            now,
            out: Vec::new(),
            next_tid: 0,
            relay_port: 50_000,
        }
    }

    fn tid(&mut self) -> TransactionId {
        self.next_tid = self.next_tid.wrapping_add(1);
        TransactionId([self.next_tid; 12])
    }

    /// Builds a request; `attrs` are added before the credentials.
    fn build(
        &mut self,
        method: Method,
        tid: TransactionId,
        attrs: &[Attribute<'_>],
        cred: Option<&Cred>,
    ) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, method, tid);
        for a in attrs {
            b.add(a).unwrap();
        }
        if let Some(c) = cred {
            b.add(&Attribute::Username(&c.user)).unwrap();
            b.add(&Attribute::Realm(REALM)).unwrap();
            b.add(&Attribute::Nonce(&c.nonce)).unwrap();
            if c.sha256 {
                b.add(&Attribute::PasswordAlgorithms(PasswordAlgorithms::new(
                    &OFFERED,
                )))
                .unwrap();
                b.add(&Attribute::PasswordAlgorithm(
                    PasswordAlgorithm::Sha256.into(),
                ))
                .unwrap();
                b.add_message_integrity_sha256(&long_term_key(
                    &c.user,
                    REALM,
                    &c.pass,
                    PasswordAlgorithm::Sha256,
                ));
            } else {
                b.add_message_integrity(&long_term_key(
                    &c.user,
                    REALM,
                    &c.pass,
                    PasswordAlgorithm::Md5,
                ));
            }
        }
        b.finish();
        buf
    }

    fn send(&mut self, from: FiveTuple, bytes: &[u8]) -> Output {
        let mut out = std::mem::take(&mut self.out);
        let o = self.server.handle_client(self.now, from, bytes, &mut out);
        self.out = out;
        o
    }

    /// Sends a request and returns the response (opening the relay socket
    /// when asked), with its class and error code.
    fn request(
        &mut self,
        from: FiveTuple,
        method: Method,
        attrs: &[Attribute<'_>],
        cred: Option<&Cred>,
    ) -> (Class, Option<u16>) {
        let tid = self.tid();
        let bytes = self.build(method, tid, attrs, cred);
        self.request_bytes(from, &bytes)
    }

    fn request_bytes(&mut self, from: FiveTuple, bytes: &[u8]) -> (Class, Option<u16>) {
        match self.send(from, bytes) {
            Output::Reply => {}
            Output::OpenRelay { pending, .. } => {
                self.relay_port += 1;
                let relayed = SocketAddr::from(([198, 51, 100, 1], self.relay_port));
                let mut out = std::mem::take(&mut self.out);
                let opened = self
                    .server
                    .relay_opened(self.now, pending, Some(relayed), &mut out)
                    .unwrap();
                assert_eq!(opened.tuple, from);
                self.out = out;
            }
            other => panic!("no response: {other:?}"),
        }
        let msg = Message::parse(&self.out).unwrap();
        let code = msg.attributes().flatten().find_map(|a| match a {
            Attribute::ErrorCode { code, .. } => Some(code),
            _ => None,
        });
        (msg.class(), code)
    }

    fn response(&self) -> Message<'_> {
        Message::parse(&self.out).unwrap()
    }

    fn nonce(&self) -> String {
        self.response()
            .attributes()
            .flatten()
            .find_map(|a| match a {
                Attribute::Nonce(n) => Some(n.to_owned()),
                _ => None,
            })
            .expect("a NONCE")
    }

    /// Credentials for `user` after a 401 challenge from `from`.
    fn login(&mut self, from: FiveTuple, user: &str, pass: &str) -> Cred {
        let (class, code) = self.request(
            from,
            Method::ALLOCATE,
            &[Attribute::RequestedTransport(17)],
            None,
        );
        assert_eq!((class, code), (Class::ErrorResponse, Some(401)));
        Cred {
            user: user.into(),
            pass: pass.into(),
            nonce: self.nonce(),
            sha256: false,
        }
    }

    fn allocate(&mut self, from: FiveTuple, cred: &Cred) -> (Class, Option<u16>) {
        self.request(
            from,
            Method::ALLOCATE,
            &[Attribute::RequestedTransport(17)],
            Some(cred),
        )
    }

    fn relayed(&self) -> SocketAddr {
        self.response()
            .attributes()
            .flatten()
            .find_map(|a| match a {
                Attribute::XorRelayedAddress(r) => Some(r),
                _ => None,
            })
            .expect("XOR-RELAYED-ADDRESS")
    }

    fn lifetime(&self) -> u32 {
        self.response()
            .attributes()
            .flatten()
            .find_map(|a| match a {
                Attribute::Lifetime(l) => Some(l),
                _ => None,
            })
            .expect("LIFETIME")
    }

    /// An allocation for alice on `tuple(1)` with a channel to `peer`.
    fn allocated(&mut self) -> (Cred, AllocationId) {
        let cred = self.login(tuple(1), "alice", "wonderland");
        assert_eq!(self.allocate(tuple(1), &cred).0, Class::SuccessResponse);
        let id = *self.server.by_tuple.get(&tuple(1)).unwrap();
        (cred, id)
    }
}

fn allow_all() -> ServerConfig {
    let mut c = config();
    c.policy = PeerPolicy {
        allow_loopback: true,
        allow_private: true,
    };
    c
}

#[test]
fn an_allocate_without_credentials_is_challenged_with_realm_nonce_and_algorithms() {
    let mut fx = Fx::new();
    let (class, code) = fx.request(
        tuple(1),
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(17)],
        None,
    );
    assert_eq!((class, code), (Class::ErrorResponse, Some(401)));
    let msg = fx.response();
    assert!(!msg.has_message_integrity(), "a 401 is not signed");
    let mut realm = None;
    let mut algs = Vec::new();
    for a in msg.attributes().flatten() {
        match a {
            Attribute::Realm(r) => realm = Some(r),
            Attribute::PasswordAlgorithms(l) => algs = l.iter().map(|v| v.algorithm).collect(),
            _ => {}
        }
    }
    assert_eq!(realm, Some(REALM));
    assert_eq!(algs, [0x0002, 0x0001], "SHA-256 preferred, MD5 offered");
    assert!(fx.nonce().starts_with("obMatJos2AAAB"));
}

#[test]
fn allocate_with_md5_credentials_is_signed_with_message_integrity() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    assert_eq!(fx.allocate(tuple(1), &cred), (Class::SuccessResponse, None));
    let key = long_term_key("alice", REALM, "wonderland", PasswordAlgorithm::Md5);
    fx.response().verify_message_integrity(&key).unwrap();
    assert_eq!(fx.lifetime(), 600);
    assert_eq!(fx.server.metrics().allocations_current, 1);
}

#[test]
fn allocate_with_sha256_is_signed_with_message_integrity_sha256() {
    let mut fx = Fx::new();
    let mut cred = fx.login(tuple(1), "alice", "wonderland");
    cred.sha256 = true;
    assert_eq!(fx.allocate(tuple(1), &cred), (Class::SuccessResponse, None));
    let key = long_term_key("alice", REALM, "wonderland", PasswordAlgorithm::Sha256);
    assert!(fx.response().has_message_integrity_sha256());
    fx.response().verify_message_integrity_sha256(&key).unwrap();
}

#[test]
fn a_password_algorithm_without_the_offered_list_is_a_bad_request() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let tid = fx.tid();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, tid);
    b.add(&Attribute::RequestedTransport(17)).unwrap();
    b.add(&Attribute::Username("alice")).unwrap();
    b.add(&Attribute::Realm(REALM)).unwrap();
    b.add(&Attribute::Nonce(&cred.nonce)).unwrap();
    // Bid down: MD5 chosen, the list stripped.
    b.add(&Attribute::PasswordAlgorithm(PasswordAlgorithm::Md5.into()))
        .unwrap();
    b.add_message_integrity(&long_term_key(
        "alice",
        REALM,
        "wonderland",
        PasswordAlgorithm::Md5,
    ));
    b.finish();
    assert_eq!(
        fx.request_bytes(tuple(1), &buf),
        (Class::ErrorResponse, Some(400))
    );
    assert_eq!(fx.server.metrics().auth_failures(AuthFailure::Malformed), 1);
}

#[test]
fn wrong_password_and_unknown_user_get_401_and_are_counted() {
    let mut fx = Fx::new();
    let mut cred = fx.login(tuple(1), "alice", "wrong");
    assert_eq!(
        fx.allocate(tuple(1), &cred),
        (Class::ErrorResponse, Some(401))
    );
    cred.user = "mallory".into();
    assert_eq!(
        fx.allocate(tuple(1), &cred),
        (Class::ErrorResponse, Some(401))
    );
    let m = fx.server.metrics();
    assert_eq!(m.auth_failures(AuthFailure::BadIntegrity), 1);
    assert_eq!(m.auth_failures(AuthFailure::UnknownUser), 1);
    assert_eq!(m.allocations_total, 0);
}

#[test]
fn a_stale_nonce_gets_438_with_a_fresh_one_that_then_works() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    fx.now += Duration::from_secs(601);
    assert_eq!(
        fx.allocate(tuple(1), &cred),
        (Class::ErrorResponse, Some(438))
    );
    let fresh = Cred {
        nonce: fx.nonce(),
        ..cred.clone()
    };
    assert_ne!(fresh.nonce, cred.nonce);
    assert_eq!(fx.allocate(tuple(1), &fresh).0, Class::SuccessResponse);
    assert_eq!(
        fx.server.metrics().auth_failures(AuthFailure::StaleNonce),
        1
    );
}

#[test]
fn a_nonce_replayed_from_another_address_or_forged_gets_438() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let elsewhere = FiveTuple {
        client: "203.0.113.5:1".parse().unwrap(),
        ..tuple(1)
    };
    assert_eq!(
        fx.allocate(elsewhere, &cred),
        (Class::ErrorResponse, Some(438))
    );
    let forged = Cred {
        nonce: "obMatJos2AAAB0000000000000000deadbeef".into(),
        ..cred
    };
    assert_eq!(
        fx.allocate(tuple(1), &forged),
        (Class::ErrorResponse, Some(438))
    );
    assert_eq!(
        fx.server.metrics().auth_failures(AuthFailure::InvalidNonce),
        2
    );
}

#[test]
fn rest_api_credentials_work_until_their_expiry() {
    let mut fx = Fx::new();
    let user = format!("{}:carol", UNIX0 + 100);
    let pass = rest_password(b"s3cret", &user);
    let cred = fx.login(tuple(1), &user, &pass);
    assert_eq!(fx.allocate(tuple(1), &cred).0, Class::SuccessResponse);
    fx.now += Duration::from_secs(101);
    let cred = fx.login(tuple(2), &user, &pass);
    assert_eq!(
        fx.allocate(tuple(2), &cred),
        (Class::ErrorResponse, Some(401))
    );
    assert_eq!(
        fx.server
            .metrics()
            .auth_failures(AuthFailure::ExpiredCredential),
        1
    );
}

#[test]
fn an_allocation_flood_past_the_user_quota_gets_486_and_past_the_total_508() {
    let mut c = config();
    c.quotas.user_allocations = 3;
    c.quotas.total_allocations = 4;
    let mut fx = Fx::with(c);
    let cred = fx.login(tuple(1), "alice", "wonderland");
    for port in 1..=3 {
        assert_eq!(fx.allocate(tuple(port), &cred).0, Class::SuccessResponse);
    }
    assert_eq!(
        fx.allocate(tuple(4), &cred),
        (Class::ErrorResponse, Some(486))
    );
    let msg = fx.response();
    let key = long_term_key("alice", REALM, "wonderland", PasswordAlgorithm::Md5);
    msg.verify_message_integrity(&key)
        .expect("errors after authentication are signed");
    let bob = Cred {
        user: "bob".into(),
        pass: "builder".into(),
        ..cred.clone()
    };
    assert_eq!(fx.allocate(tuple(10), &bob).0, Class::SuccessResponse);
    assert_eq!(
        fx.allocate(tuple(11), &bob),
        (Class::ErrorResponse, Some(508))
    );
    // Deleting one frees a place.
    assert_eq!(
        fx.request(
            tuple(1),
            Method::REFRESH,
            &[Attribute::Lifetime(0)],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    assert!(matches!(
        fx.server.poll_event(),
        Some(ServerEvent::Closed(_))
    ));
    assert_eq!(fx.allocate(tuple(11), &bob).0, Class::SuccessResponse);
    assert_eq!(fx.server.allocation_count(), 4);
}

#[test]
fn allocate_refuses_other_transports_missing_transport_dont_fragment_and_other_families() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    assert_eq!(
        fx.request(
            tuple(1),
            Method::ALLOCATE,
            &[Attribute::RequestedTransport(6)],
            Some(&cred)
        ),
        (Class::ErrorResponse, Some(442))
    );
    assert_eq!(
        fx.request(tuple(1), Method::ALLOCATE, &[], Some(&cred)),
        (Class::ErrorResponse, Some(400))
    );
    assert_eq!(
        fx.request(
            tuple(1),
            Method::ALLOCATE,
            &[Attribute::RequestedTransport(17), Attribute::DontFragment],
            Some(&cred)
        ),
        (Class::ErrorResponse, Some(420))
    );
    assert_eq!(
        fx.request(
            tuple(1),
            Method::ALLOCATE,
            &[
                Attribute::RequestedTransport(17),
                Attribute::RequestedAddressFamily(AddressFamily::Ipv6)
            ],
            Some(&cred)
        ),
        (Class::ErrorResponse, Some(440))
    );
    assert_eq!(fx.server.allocation_count(), 0);
}

#[test]
fn a_second_allocate_on_the_same_five_tuple_is_437_but_a_retransmission_is_answered_again() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let tid = fx.tid();
    let req = fx.build(
        Method::ALLOCATE,
        tid,
        &[Attribute::RequestedTransport(17)],
        Some(&cred),
    );
    assert_eq!(fx.request_bytes(tuple(1), &req).0, Class::SuccessResponse);
    let first = fx.relayed();
    assert_eq!(fx.request_bytes(tuple(1), &req).0, Class::SuccessResponse);
    assert_eq!(fx.relayed(), first);
    assert_eq!(
        fx.allocate(tuple(1), &cred),
        (Class::ErrorResponse, Some(437))
    );
}

#[test]
fn refresh_clamps_the_lifetime_and_zero_deletes() {
    let (mut fx, (cred, id)) = {
        let mut fx = Fx::new();
        let a = fx.allocated();
        (fx, a)
    };
    assert_eq!(
        fx.request(
            tuple(1),
            Method::REFRESH,
            &[Attribute::Lifetime(100_000)],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    assert_eq!(fx.lifetime(), 3600);
    assert_eq!(
        fx.request(
            tuple(1),
            Method::REFRESH,
            &[Attribute::Lifetime(5)],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    assert_eq!(fx.lifetime(), 600);
    // Refresh from a 5-tuple without an allocation.
    assert_eq!(
        fx.request(tuple(2), Method::REFRESH, &[], Some(&cred)),
        (Class::ErrorResponse, Some(437))
    );
    // Another user on alice's 5-tuple.
    let bob = Cred {
        user: "bob".into(),
        pass: "builder".into(),
        ..cred.clone()
    };
    assert_eq!(
        fx.request(tuple(1), Method::REFRESH, &[], Some(&bob)),
        (Class::ErrorResponse, Some(441))
    );
    assert_eq!(
        fx.request(
            tuple(1),
            Method::REFRESH,
            &[Attribute::Lifetime(0)],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    assert_eq!(fx.lifetime(), 0);
    assert_eq!(fx.server.poll_event(), Some(ServerEvent::Closed(id)));
    assert_eq!(fx.server.allocation_count(), 0);
}

#[test]
fn an_allocation_expires_after_its_lifetime() {
    let mut fx = Fx::new();
    let (_, id) = fx.allocated();
    fx.server.handle_timeout(fx.now + Duration::from_secs(599));
    assert_eq!(fx.server.poll_event(), None);
    assert!(fx.server.poll_timeout().unwrap() <= fx.now + Duration::from_secs(600));
    fx.server.handle_timeout(fx.now + Duration::from_secs(600));
    assert_eq!(fx.server.poll_event(), Some(ServerEvent::Closed(id)));
    assert_eq!(fx.server.metrics().allocations_current, 0);
    assert_eq!(
        fx.server.users.len(),
        0,
        "the user's state goes with its last allocation"
    );
}

#[test]
fn relaying_to_loopback_private_or_special_peers_is_forbidden() {
    let mut fx = Fx::new();
    let (cred, _) = fx.allocated();
    for peer in [
        "127.0.0.1:9",
        "10.0.0.1:9",
        "169.254.0.1:9",
        "0.0.0.0:9",
        "224.0.0.1:9",
    ] {
        let peer: SocketAddr = peer.parse().unwrap();
        assert_eq!(
            fx.request(
                tuple(1),
                Method::CREATE_PERMISSION,
                &[Attribute::XorPeerAddress(peer)],
                Some(&cred)
            ),
            (Class::ErrorResponse, Some(403)),
            "{peer}"
        );
        assert_eq!(
            fx.request(
                tuple(1),
                Method::CHANNEL_BIND,
                &[
                    Attribute::ChannelNumber(0x4000),
                    Attribute::XorPeerAddress(peer)
                ],
                Some(&cred)
            ),
            (Class::ErrorResponse, Some(403)),
            "{peer}"
        );
    }
    // A Send indication to a forbidden peer has no permission: dropped.
    let send = indication(&[
        Attribute::XorPeerAddress("127.0.0.1:9".parse().unwrap()),
        Attribute::Data(b"x"),
    ]);
    assert_eq!(fx.send(tuple(1), &send), Output::Nothing);
    assert_eq!(fx.server.metrics().drops(Drop::NoPermission), 1);
    assert_eq!(fx.server.metrics().forbidden_peers, 10);
    let peer: SocketAddr = "8.8.8.8:9".parse().unwrap();
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress(peer)],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
}

#[test]
fn allow_loopback_opens_loopback_only() {
    let mut c = config();
    c.policy.allow_loopback = true;
    let mut fx = Fx::with(c);
    let (cred, _) = fx.allocated();
    let lo: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let private: SocketAddr = "192.168.1.1:9".parse().unwrap();
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress(lo)],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress(private)],
            Some(&cred)
        )
        .1,
        Some(403)
    );
}

fn indication(attrs: &[Attribute<'_>]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Indication,
        Method::SEND,
        TransactionId([9; 12]),
    );
    for a in attrs {
        b.add(a).unwrap();
    }
    b.finish();
    buf
}

#[test]
fn channel_bind_follows_the_rules_of_rfc8656_section_12() {
    let mut fx = Fx::with(allow_all());
    let (cred, _) = fx.allocated();
    let p1: SocketAddr = "8.8.8.8:1000".parse().unwrap();
    let p2: SocketAddr = "8.8.4.4:1000".parse().unwrap();
    let bind = |fx: &mut Fx, n: u16, p: SocketAddr| {
        fx.request(
            tuple(1),
            Method::CHANNEL_BIND,
            &[Attribute::ChannelNumber(n), Attribute::XorPeerAddress(p)],
            Some(&cred),
        )
    };
    assert_eq!(bind(&mut fx, 0x4000, p1).0, Class::SuccessResponse);
    assert_eq!(
        bind(&mut fx, 0x4000, p1).0,
        Class::SuccessResponse,
        "a refresh"
    );
    assert_eq!(
        bind(&mut fx, 0x4000, p2).1,
        Some(400),
        "number bound to another peer"
    );
    assert_eq!(
        bind(&mut fx, 0x4001, p1).1,
        Some(400),
        "peer bound to another number"
    );
    assert_eq!(bind(&mut fx, 0x3fff, p2).1, Some(400), "out of range");
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CHANNEL_BIND,
            &[Attribute::ChannelNumber(0x4002)],
            Some(&cred)
        )
        .1,
        Some(400),
        "no peer"
    );
    let v6: SocketAddr = "[2001:4860::1]:1".parse().unwrap();
    assert_eq!(bind(&mut fx, 0x4003, v6).1, Some(443));
}

#[test]
fn channel_data_and_send_indications_are_relayed_to_permitted_peers_only() {
    let mut fx = Fx::with(allow_all());
    let (cred, id) = fx.allocated();
    let peer: SocketAddr = "8.8.8.8:1000".parse().unwrap();
    // No permission yet: a Send indication is dropped.
    let send = indication(&[Attribute::XorPeerAddress(peer), Attribute::Data(b"hello")]);
    assert_eq!(fx.send(tuple(1), &send), Output::Nothing);
    // Unbound channel: dropped.
    assert_eq!(
        fx.send(tuple(1), &[0x40, 0x00, 0, 2, b'h', b'i']),
        Output::Nothing
    );
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CHANNEL_BIND,
            &[
                Attribute::ChannelNumber(0x4000),
                Attribute::XorPeerAddress(peer)
            ],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    let o = fx.send(tuple(1), &send);
    let Output::Relay {
        allocation,
        peer: to,
        data,
    } = o
    else {
        panic!("{o:?}")
    };
    assert_eq!((allocation, to, &send[data]), (id, peer, &b"hello"[..]));
    let cd = [0x40, 0x00, 0, 2, b'h', b'i', 0, 0];
    let o = fx.send(tuple(1), &cd);
    assert_eq!(
        o,
        Output::Relay {
            allocation: id,
            peer,
            data: 4..6
        }
    );
    // From another 5-tuple, nothing.
    assert_eq!(fx.send(tuple(2), &cd), Output::Nothing);
    let m = fx.server.metrics();
    assert_eq!((m.packets_to_peer, m.bytes_to_peer), (2, 7));
    assert_eq!(
        (
            m.drops(Drop::NoPermission),
            m.drops(Drop::NoChannel),
            m.drops(Drop::NoAllocation)
        ),
        (1, 1, 1)
    );
}

#[test]
fn peer_data_becomes_channel_data_in_place_or_a_data_indication() {
    let mut fx = Fx::with(allow_all());
    let (cred, id) = fx.allocated();
    let peer: SocketAddr = "8.8.8.8:1000".parse().unwrap();
    let other: SocketAddr = "8.8.4.4:2000".parse().unwrap();
    let mut buf = vec![0u8; PEER_HEADROOM + 5 + PEER_TAILROOM];
    buf[PEER_HEADROOM..PEER_HEADROOM + 5].copy_from_slice(b"hello");
    let data = PEER_HEADROOM..PEER_HEADROOM + 5;
    assert_eq!(
        fx.server
            .handle_peer(fx.now, id, peer, &mut buf, data.clone()),
        None,
        "no permission"
    );
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CHANNEL_BIND,
            &[
                Attribute::ChannelNumber(0x4001),
                Attribute::XorPeerAddress(peer)
            ],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress(other)],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    let to = fx
        .server
        .handle_peer(fx.now, id, peer, &mut buf, data.clone())
        .unwrap();
    assert_eq!(to.tuple, tuple(1));
    let cd = ChannelData::parse(&buf[to.message.clone()]).unwrap();
    assert_eq!(
        (cd.channel, cd.data, to.message.len()),
        (0x4001, &b"hello"[..], 9)
    );
    // Without a channel: a Data indication from the same buffer.
    let to = fx
        .server
        .handle_peer(fx.now, id, other, &mut buf, data.clone())
        .unwrap();
    let msg = Message::parse(&buf[to.message.clone()]).unwrap();
    assert_eq!(
        (msg.class(), msg.method()),
        (Class::Indication, Method::DATA)
    );
    let attrs: Vec<_> = msg.attributes().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        attrs,
        [Attribute::XorPeerAddress(other), Attribute::Data(b"hello")]
    );
    // No headroom: refused, counted.
    let mut small = b"hello".to_vec();
    assert_eq!(
        fx.server.handle_peer(fx.now, id, other, &mut small, 0..5),
        None
    );
    assert_eq!(fx.server.metrics().drops(Drop::NoHeadroom), 1);
}

#[test]
fn channel_data_over_tcp_is_padded_to_four_bytes() {
    let mut fx = Fx::with(allow_all());
    let tcp = FiveTuple {
        transport: Transport::Tcp,
        ..tuple(7)
    };
    let cred = fx.login(tcp, "alice", "wonderland");
    assert_eq!(fx.allocate(tcp, &cred).0, Class::SuccessResponse);
    let id = *fx.server.by_tuple.get(&tcp).unwrap();
    let peer: SocketAddr = "8.8.8.8:1000".parse().unwrap();
    assert_eq!(
        fx.request(
            tcp,
            Method::CHANNEL_BIND,
            &[
                Attribute::ChannelNumber(0x4000),
                Attribute::XorPeerAddress(peer)
            ],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    let mut buf = vec![0xAAu8; PEER_HEADROOM + 5 + PEER_TAILROOM];
    let to = fx
        .server
        .handle_peer(fx.now, id, peer, &mut buf, PEER_HEADROOM..PEER_HEADROOM + 5)
        .unwrap();
    assert_eq!(to.message.len(), 12);
    assert_eq!(&buf[to.message.end - 3..to.message.end], &[0, 0, 0]);
}

#[test]
fn the_user_bandwidth_quota_drops_the_excess() {
    let mut c = allow_all();
    c.quotas.user_bandwidth = 1000;
    let mut fx = Fx::with(c);
    let (cred, id) = fx.allocated();
    let peer: SocketAddr = "8.8.8.8:1000".parse().unwrap();
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CHANNEL_BIND,
            &[
                Attribute::ChannelNumber(0x4000),
                Attribute::XorPeerAddress(peer)
            ],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    let mut cd = vec![0x40, 0x00, 0x01, 0xF4];
    cd.extend_from_slice(&[7; 500]);
    assert!(matches!(fx.send(tuple(1), &cd), Output::Relay { .. }));
    let mut buf = vec![0u8; PEER_HEADROOM + 500 + PEER_TAILROOM];
    assert!(
        fx.server
            .handle_peer(
                fx.now,
                id,
                peer,
                &mut buf,
                PEER_HEADROOM..PEER_HEADROOM + 500
            )
            .is_some()
    );
    assert_eq!(fx.send(tuple(1), &cd), Output::Nothing);
    assert_eq!(fx.server.metrics().drops(Drop::Bandwidth), 1);
    fx.now += Duration::from_millis(600);
    assert!(matches!(fx.send(tuple(1), &cd), Output::Relay { .. }));
}

#[test]
fn malformed_and_oversized_messages_are_dropped_or_refused_with_400() {
    let mut fx = Fx::new();
    for junk in [
        &b""[..],
        b"\x00",
        b"\x00\x01\x00\x00junkjunkjunkjunk",
        b"\x40\x00\x00\x09ab",
        b"\xff\xff\xff\xff",
    ] {
        assert_eq!(fx.send(tuple(1), junk), Output::Nothing);
    }
    assert_eq!(fx.server.metrics().drops(Drop::Malformed), 4);
    assert_eq!(
        fx.server.metrics().drops(Drop::NoAllocation),
        1,
        "ChannelData without an allocation"
    );
    // An attribute with a bad value: 400.
    let tid = fx.tid();
    let mut req = fx.build(Method::ALLOCATE, tid, &[], None);
    req.extend_from_slice(&[0x00, 0x19, 0x00, 0x01, 17, 0, 0, 0]); // REQUESTED-TRANSPORT of 1 byte
    req[3] = 8;
    assert_eq!(
        fx.request_bytes(tuple(1), &req),
        (Class::ErrorResponse, Some(400))
    );
    // A request over max_request_len: 400.
    let big = vec![b'x'; 5000];
    let big = std::str::from_utf8(&big).unwrap();
    assert_eq!(
        fx.request(
            tuple(1),
            Method::ALLOCATE,
            &[
                Attribute::Software(&big[..100]),
                Attribute::Unknown {
                    typ: 0x8123,
                    value: big.as_bytes()
                }
            ],
            None
        ),
        (Class::ErrorResponse, Some(400))
    );
    // An unknown comprehension-required attribute: 420 (on an Allocate,
    // only once authenticated: see the DONT-FRAGMENT test).
    assert_eq!(
        fx.request(
            tuple(1),
            Method::BINDING,
            &[Attribute::Unknown {
                typ: 0x0077,
                value: b""
            }],
            None
        ),
        (Class::ErrorResponse, Some(420))
    );
    // An unknown method: 400.
    assert_eq!(
        fx.request(tuple(1), Method(0x0fe), &[], None),
        (Class::ErrorResponse, Some(400))
    );
    // A STUN Binding request is answered.
    assert_eq!(
        fx.request(tuple(1), Method::BINDING, &[], None),
        (Class::SuccessResponse, None)
    );
}

#[test]
fn hostile_input_never_panics_and_memory_stays_bounded() {
    use rand::{Rng, SeedableRng};
    let mut c = allow_all();
    c.quotas.total_allocations = 8;
    let mut fx = Fx::with(c);
    let (cred, id) = fx.allocated();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let valid = fx.build(
        Method::CREATE_PERMISSION,
        TransactionId([1; 12]),
        &[Attribute::XorPeerAddress("8.8.8.8:1".parse().unwrap())],
        Some(&cred),
    );
    let mut buf = vec![0u8; 2048];
    for i in 0..20_000u32 {
        let mut bytes = valid.clone();
        for _ in 0..rng.random_range(1..6) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
        if i % 3 == 0 {
            bytes.truncate(rng.random_range(0..bytes.len()));
        }
        let from = tuple(rng.random_range(1..2000));
        let _ = fx.send(from, &bytes);
        if let Output::OpenRelay { pending, .. } = fx.send(from, &bytes) {
            let mut out = Vec::new();
            fx.server.relay_opened(
                fx.now,
                pending,
                Some("198.51.100.1:9".parse().unwrap()),
                &mut out,
            );
        }
        let len = rng.random_range(0..1500);
        let peer = SocketAddr::from(([192, 0, 2, rng.random()], rng.random()));
        let _ = fx
            .server
            .handle_peer(fx.now, id, peer, &mut buf, PEER_HEADROOM.min(len)..len);
    }
    assert!(fx.server.allocation_count() <= 8);
    assert!(fx.server.pending.len() <= 8);
    assert!(
        fx.server
            .allocations
            .values()
            .all(|a| a.next_expiry() >= fx.now)
    );
}

fn token_of(fx: &Fx) -> Option<u64> {
    fx.response().attributes().flatten().find_map(|a| match a {
        Attribute::ReservationToken(t) => Some(t),
        _ => None,
    })
}

/// An Allocate's attributes for an even port with the next one reserved
/// (EVEN-PORT with the R bit, RFC 8656 §14.6).
const RESERVE_NEXT: [Attribute<'static>; 2] = [
    Attribute::RequestedTransport(17),
    Attribute::EvenPort { reserve: true },
];

#[test]
fn even_port_with_the_r_bit_reserves_the_next_port_for_a_token() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let even = RESERVE_NEXT;
    let tid = fx.tid();
    let req = fx.build(Method::ALLOCATE, tid, &even, Some(&cred));
    let Output::OpenRelay { pending, port } = fx.send(tuple(1), &req) else {
        panic!()
    };
    assert_eq!(port, RelayPort::EvenReserveNext);
    let mut out = Vec::new();
    let opened = fx
        .server
        .relay_opened(
            fx.now,
            pending,
            Some("198.51.100.1:50000".parse().unwrap()),
            &mut out,
        )
        .unwrap();
    fx.out = out;
    let token = opened.reservation.expect("a token for the reserved port");
    assert_eq!(token_of(&fx), Some(token));
    // The token with EVEN-PORT is a bad request; an unknown token, 508.
    let both = [
        Attribute::RequestedTransport(17),
        Attribute::EvenPort { reserve: false },
        Attribute::ReservationToken(token),
    ];
    assert_eq!(
        fx.request(tuple(2), Method::ALLOCATE, &both, Some(&cred)),
        (Class::ErrorResponse, Some(400))
    );
    let unknown = [
        Attribute::RequestedTransport(17),
        Attribute::ReservationToken(token ^ 1),
    ];
    assert_eq!(
        fx.request(tuple(2), Method::ALLOCATE, &unknown, Some(&cred)),
        (Class::ErrorResponse, Some(508))
    );
    // The token claims the reserved socket, once.
    let claim = [
        Attribute::RequestedTransport(17),
        Attribute::ReservationToken(token),
    ];
    let tid = fx.tid();
    let req = fx.build(Method::ALLOCATE, tid, &claim, Some(&cred));
    assert_eq!(
        fx.send(tuple(2), &req),
        Output::OpenRelay {
            pending: PendingId(fx.server.next_id - 1),
            port: RelayPort::Reserved(token)
        }
    );
    assert_eq!(
        fx.request(tuple(3), Method::ALLOCATE, &claim, Some(&cred)),
        (Class::ErrorResponse, Some(508))
    );
    // EVEN-PORT without R asks for an even port only.
    let tid = fx.tid();
    let req = fx.build(
        Method::ALLOCATE,
        tid,
        &[
            Attribute::RequestedTransport(17),
            Attribute::EvenPort { reserve: false },
        ],
        Some(&cred),
    );
    assert!(matches!(
        fx.send(tuple(4), &req),
        Output::OpenRelay {
            port: RelayPort::Even,
            ..
        }
    ));
}

#[test]
fn an_unclaimed_reservation_expires_after_30_seconds() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let even = RESERVE_NEXT;
    assert_eq!(
        fx.request(tuple(1), Method::ALLOCATE, &even, Some(&cred)).0,
        Class::SuccessResponse
    );
    let token = token_of(&fx).unwrap();
    fx.server.handle_timeout(fx.now + RESERVATION_LIFETIME);
    assert_eq!(
        fx.server.poll_event(),
        Some(ServerEvent::ReservationExpired(token))
    );
    fx.now += RESERVATION_LIFETIME;
    let claim = [
        Attribute::RequestedTransport(17),
        Attribute::ReservationToken(token),
    ];
    assert_eq!(
        fx.request(tuple(2), Method::ALLOCATE, &claim, Some(&cred)),
        (Class::ErrorResponse, Some(508))
    );
}

#[test]
fn a_send_indication_malformed_or_with_an_unknown_required_attribute_is_dropped() {
    let mut fx = Fx::with(allow_all());
    let (cred, _) = fx.allocated();
    let peer: SocketAddr = "8.8.8.8:1000".parse().unwrap();
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress(peer)],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    let two = indication(&[
        Attribute::XorPeerAddress(peer),
        Attribute::XorPeerAddress(peer),
        Attribute::Data(b"x"),
    ]);
    let no_data = indication(&[Attribute::XorPeerAddress(peer)]);
    let no_peer = indication(&[Attribute::Data(b"x")]);
    // RFC 8489 §6.3.2: an unknown comprehension-required attribute
    // discards an indication.
    let unknown = indication(&[
        Attribute::XorPeerAddress(peer),
        Attribute::Unknown {
            typ: 0x7777,
            value: b"abcd",
        },
        Attribute::Data(b"x"),
    ]);
    for bad in [two, no_data, no_peer, unknown] {
        assert_eq!(fx.send(tuple(1), &bad), Output::Nothing);
    }
    assert_eq!(fx.server.metrics().drops(Drop::Malformed), 4);
    assert_eq!(fx.server.metrics().packets_to_peer, 0);
}

#[test]
fn a_refused_claim_leaves_the_reservation_to_expire_with_its_socket() {
    let mut c = config();
    c.quotas.user_allocations = 1;
    let mut fx = Fx::with(c);
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let even = RESERVE_NEXT;
    assert_eq!(
        fx.request(tuple(1), Method::ALLOCATE, &even, Some(&cred)).0,
        Class::SuccessResponse
    );
    let token = token_of(&fx).unwrap();
    // Past alice's quota: refused, and the token (and the socket the
    // driver keeps for it) is not lost by the refusal.
    let claim = [
        Attribute::RequestedTransport(17),
        Attribute::ReservationToken(token),
    ];
    assert_eq!(
        fx.request(tuple(2), Method::ALLOCATE, &claim, Some(&cred)),
        (Class::ErrorResponse, Some(486))
    );
    fx.server.handle_timeout(fx.now + RESERVATION_LIFETIME);
    assert_eq!(
        fx.server.poll_event(),
        Some(ServerEvent::ReservationExpired(token))
    );
}

#[test]
fn data_to_the_servers_own_address_goes_to_relay_sockets_only() {
    // A public relay address (loopback and private ones are opened by the
    // operator's --allow-* flags).
    let mut fx = Fx::with(allow_all());
    let cred = fx.login(tuple(1), "alice", "wonderland");
    // Two allocations whose relay sockets are on 8.8.8.8 (the server's
    // public address in this test): 8.8.8.8:50001 and :50002.
    for (client, port) in [(1, 50_001), (2, 50_002)] {
        let tid = fx.tid();
        let req = fx.build(
            Method::ALLOCATE,
            tid,
            &[Attribute::RequestedTransport(17)],
            Some(&cred),
        );
        let Output::OpenRelay { pending, .. } = fx.send(tuple(client), &req) else {
            panic!("no relay socket asked for")
        };
        let mut out = Vec::new();
        let relayed = SocketAddr::from(([8, 8, 8, 8], port));
        assert!(
            fx.server
                .relay_opened(fx.now, pending, Some(relayed), &mut out)
                .is_some()
        );
    }
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress("8.8.8.8:0".parse().unwrap())],
            Some(&cred)
        )
        .0,
        Class::SuccessResponse
    );
    // To the other client's relay socket: relayed (two clients of one
    // server reaching each other through their relays).
    let other: SocketAddr = "8.8.8.8:50002".parse().unwrap();
    let send = indication(&[Attribute::XorPeerAddress(other), Attribute::Data(b"hi")]);
    assert!(matches!(fx.send(tuple(1), &send), Output::Relay { peer, .. } if peer == other));
    // To the listener, or any other port on that address: dropped.
    for port in [3478, 53, 50_003] {
        let to = SocketAddr::from(([8, 8, 8, 8], port));
        let send = indication(&[Attribute::XorPeerAddress(to), Attribute::Data(b"hi")]);
        assert_eq!(fx.send(tuple(1), &send), Output::Nothing, "{to}");
    }
    assert_eq!(fx.server.metrics().drops(Drop::OwnAddress), 3);
}

#[test]
fn fresh_rest_api_credentials_share_their_users_quota() {
    let mut c = config();
    c.quotas.user_allocations = 1;
    let mut fx = Fx::with(c);
    let first = format!("{}:carol", UNIX0 + 100);
    let cred = fx.login(tuple(1), &first, &rest_password(b"s3cret", &first));
    assert_eq!(fx.allocate(tuple(1), &cred).0, Class::SuccessResponse);
    // The allocation stays bound to the full USERNAME (RFC 8656 §6.2).
    assert_eq!(
        fx.request(
            tuple(1),
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress("8.8.8.8:0".parse().unwrap())],
            Some(&cred)
        ),
        (Class::SuccessResponse, None)
    );
    // A newly minted credential for the same name is the same user.
    let second = format!("{}:carol", UNIX0 + 200);
    let cred = fx.login(tuple(2), &second, &rest_password(b"s3cret", &second));
    assert_eq!(
        fx.allocate(tuple(2), &cred),
        (Class::ErrorResponse, Some(486))
    );
}

#[test]
fn a_deleted_allocations_reserved_port_goes_with_it_so_reservations_stay_within_the_quota() {
    let mut c = config();
    c.quotas.user_allocations = 1;
    let mut fx = Fx::with(c);
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let even = RESERVE_NEXT;
    for _ in 0..50 {
        let allocated = fx.request(tuple(1), Method::ALLOCATE, &even, Some(&cred));
        assert_eq!(allocated.0, Class::SuccessResponse);
        let token = token_of(&fx).expect("a reservation token");
        while fx.server.poll_event().is_some() {}
        let deleted = fx.request(
            tuple(1),
            Method::REFRESH,
            &[Attribute::Lifetime(0)],
            Some(&cred),
        );
        assert_eq!(deleted.0, Class::SuccessResponse);
        let events: Vec<_> = std::iter::from_fn(|| fx.server.poll_event()).collect();
        assert!(
            events.contains(&ServerEvent::ReservationExpired(token)),
            "{events:?}"
        );
    }
    assert_eq!(fx.server.allocation_count(), 0);
    assert!(fx.server.reservations.is_empty());
}

#[test]
fn a_retransmitted_allocate_is_answered_with_its_reservation_token_again() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let even = RESERVE_NEXT;
    let tid = fx.tid();
    let req = fx.build(Method::ALLOCATE, tid, &even, Some(&cred));
    assert_eq!(fx.request_bytes(tuple(1), &req).0, Class::SuccessResponse);
    let first = token_of(&fx);
    assert!(first.is_some());
    assert_eq!(fx.request_bytes(tuple(1), &req).0, Class::SuccessResponse);
    assert_eq!(token_of(&fx), first);
}

#[test]
fn data_to_one_of_the_servers_own_addresses_such_as_a_listener_is_not_relayed() {
    let listener: SocketAddr = "1.1.1.1:3478".parse().unwrap();
    let mut c = config();
    c.own_addresses = vec![listener.ip()];
    let mut fx = Fx::with(c);
    let t = FiveTuple {
        transport: Transport::Udp,
        client: SocketAddr::from(([192, 0, 2, 10], 7)),
        server: listener,
    };
    let cred = fx.login(t, "alice", "wonderland");
    let tid = fx.tid();
    let req = fx.build(
        Method::ALLOCATE,
        tid,
        &[Attribute::RequestedTransport(17)],
        Some(&cred),
    );
    let Output::OpenRelay { pending, .. } = fx.send(t, &req) else {
        panic!("no relay socket asked for")
    };
    let mut out = Vec::new();
    fx.server
        .relay_opened(
            fx.now,
            pending,
            Some("8.8.8.8:50001".parse().unwrap()),
            &mut out,
        )
        .unwrap();
    for peer in [listener, "1.1.1.1:22".parse().unwrap()] {
        let permitted = fx.request(
            t,
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress(peer)],
            Some(&cred),
        );
        assert_eq!(permitted.0, Class::SuccessResponse);
        let send = indication(&[Attribute::XorPeerAddress(peer), Attribute::Data(b"loop")]);
        assert_eq!(fx.send(t, &send), Output::Nothing, "relayed to {peer}");
    }
}

/// A TCP listener's address (the server address of a TCP 5-tuple) names
/// no UDP socket of this server: the OS may hand the same port number to a
/// UDP relay socket (or to a UDP host candidate of an ICE agent on this
/// host). Two clients of one server on loopback with --allow-loopback
/// reach each other there: the listener guard is for UDP listeners.
#[test]
fn a_udp_relay_on_the_port_number_of_a_tcp_listener_is_still_reachable() {
    let mut c = config();
    c.policy.allow_loopback = true;
    let mut fx = Fx::with(c);
    let tcp = FiveTuple {
        transport: Transport::Tcp,
        client: "127.0.0.1:40001".parse().unwrap(),
        server: "127.0.0.1:45000".parse().unwrap(),
    };
    let udp = FiveTuple {
        transport: Transport::Udp,
        client: "127.0.0.1:40002".parse().unwrap(),
        server: "127.0.0.1:3478".parse().unwrap(),
    };
    // The UDP client's relay socket got UDP port 45000; the TCP client's
    // 45001.
    let udp_relay: SocketAddr = "127.0.0.1:45000".parse().unwrap();
    let mut creds = Vec::new();
    for (t, relayed) in [(tcp, "127.0.0.1:45001"), (udp, "127.0.0.1:45000")] {
        let cred = fx.login(t, "alice", "wonderland");
        let tid = fx.tid();
        let req = fx.build(
            Method::ALLOCATE,
            tid,
            &[Attribute::RequestedTransport(17)],
            Some(&cred),
        );
        let Output::OpenRelay { pending, .. } = fx.send(t, &req) else {
            panic!("no relay socket asked for")
        };
        let mut out = Vec::new();
        fx.server
            .relay_opened(fx.now, pending, Some(relayed.parse().unwrap()), &mut out)
            .unwrap();
        creds.push(cred);
    }
    let permitted = fx.request(
        tcp,
        Method::CREATE_PERMISSION,
        &[Attribute::XorPeerAddress(udp_relay)],
        Some(&creds[0]),
    );
    assert_eq!(permitted.0, Class::SuccessResponse);
    let send = indication(&[Attribute::XorPeerAddress(udp_relay), Attribute::Data(b"hi")]);
    assert!(
        matches!(fx.send(tcp, &send), Output::Relay { peer, .. } if peer == udp_relay),
        "dropped: own_address {}",
        fx.server.metrics().drops(Drop::OwnAddress)
    );
}

#[test]
fn poll_timeout_names_when_an_unclaimed_reservation_expires() {
    let mut fx = Fx::new();
    let cred = fx.login(tuple(1), "alice", "wonderland");
    let even = RESERVE_NEXT;
    assert_eq!(
        fx.request(tuple(1), Method::ALLOCATE, &even, Some(&cred)).0,
        Class::SuccessResponse
    );
    let token = token_of(&fx).unwrap();
    // The allocation lives 600 s; its reserved port only 30 s: a driver
    // that sleeps until poll_timeout must wake then to close the socket.
    let at = fx.now + RESERVATION_LIFETIME;
    assert_eq!(fx.server.poll_timeout(), Some(at));
    fx.server.handle_timeout(at);
    assert_eq!(
        fx.server.poll_event(),
        Some(ServerEvent::ReservationExpired(token))
    );
    assert_eq!(
        fx.server.poll_timeout(),
        Some(fx.now + Duration::from_secs(600))
    );
}

#[test]
fn an_authenticated_request_with_dont_fragment_gets_a_signed_420_after_the_challenge() {
    let mut fx = Fx::new();
    let df = [Attribute::RequestedTransport(17), Attribute::DontFragment];
    // RFC 8489 §6.3: authentication comes first, so an unauthenticated
    // Allocate is challenged whatever it carries.
    assert_eq!(
        fx.request(tuple(1), Method::ALLOCATE, &df, None),
        (Class::ErrorResponse, Some(401))
    );
    let cred = Cred {
        user: "alice".into(),
        pass: "wonderland".into(),
        nonce: fx.nonce(),
        sha256: false,
    };
    assert_eq!(
        fx.request(tuple(1), Method::ALLOCATE, &df, Some(&cred)),
        (Class::ErrorResponse, Some(420))
    );
    // RFC 8489 §9.2.4: the 420 to an authenticated request is signed (a
    // client discards an unsigned one, §9.2.5) and names DONT-FRAGMENT.
    let key = long_term_key("alice", REALM, "wonderland", PasswordAlgorithm::Md5);
    let msg = fx.response();
    assert!(msg.verify_message_integrity(&key).is_ok());
    assert!(msg.attributes().flatten().any(|a| matches!(
        a,
        Attribute::UnknownAttributes(u) if u.iter().any(|t| t == t::DONT_FRAGMENT)
    )));
    assert_eq!(fx.server.allocation_count(), 0);
}

#[test]
fn channel_data_over_tcp_is_padded_to_four_bytes_wherever_the_data_lies() {
    let mut fx = Fx::with(allow_all());
    let tcp = FiveTuple {
        transport: Transport::Tcp,
        ..tuple(7)
    };
    let cred = fx.login(tcp, "alice", "wonderland");
    assert_eq!(fx.allocate(tcp, &cred).0, Class::SuccessResponse);
    let id = *fx.server.by_tuple.get(&tcp).unwrap();
    let peer: SocketAddr = "8.8.8.8:1000".parse().unwrap();
    let bind = [
        Attribute::ChannelNumber(0x4000),
        Attribute::XorPeerAddress(peer),
    ];
    assert_eq!(
        fx.request(tcp, Method::CHANNEL_BIND, &bind, Some(&cred)).0,
        Class::SuccessResponse
    );
    // More headroom than needed, so the data starts off a 4-byte boundary:
    // the message (4-byte header and data) is still padded to a multiple of
    // 4 (RFC 8656 §12.5), or the client's stream framing breaks.
    for (extra, len) in [(1, 1), (2, 5), (3, 2), (1, 4)] {
        let start = PEER_HEADROOM + extra;
        let mut buf = vec![0xAAu8; start + len + PEER_TAILROOM];
        let to = fx
            .server
            .handle_peer(fx.now, id, peer, &mut buf, start..start + len)
            .unwrap();
        let message = &buf[to.message.clone()];
        assert_eq!(message.len(), crate::stream_frame_len(len), "{extra} {len}");
        assert_eq!(&message[..4], &[0x40, 0x00, 0, len as u8]);
        assert!(message[4 + len..].iter().all(|b| *b == 0));
    }
}
