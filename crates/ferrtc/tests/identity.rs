//! Peer identity on the async API (W3C webrtc-identity): two
//! `ferrtc::PeerConnection`s on loopback with a test identity provider
//! (HMAC-SHA256 over the identity and the contents under a shared key).

use std::sync::Arc;
use std::time::Duration;

use ferrtc::{
    Configuration, DataChannelInit, Error, IdentityAssertionResult, IdentityError, IdentityOptions,
    IdentityProvider, IdentityProviderDetails, PeerConnection, PeerConnectionEvent,
    PeerConnectionState, ValidatedIdentity,
};

const KEY: &[u8] = b"shared by the test IdP";

struct TestIdp {
    identity: &'static str,
}

fn mac(identity: &str, contents: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, KEY);
    let tag = aws_lc_rs::hmac::sign(&key, format!("{identity}\n{contents}").as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl IdentityProvider for TestIdp {
    fn generate_assertion(
        &self,
        contents: &str,
        _origin: &str,
        options: &IdentityOptions,
    ) -> Result<IdentityAssertionResult, IdentityError> {
        let assertion = serde_json::json!({
            "identity": self.identity,
            "contents": contents,
            "mac": mac(self.identity, contents),
        });
        Ok(IdentityAssertionResult {
            idp: IdentityProviderDetails {
                domain: self.identity.rsplit_once('@').unwrap().1.into(),
                protocol: options.protocol.clone(),
            },
            assertion: assertion.to_string(),
        })
    }

    fn validate_assertion(
        &self,
        assertion: &str,
        _origin: &str,
    ) -> Result<ValidatedIdentity, IdentityError> {
        let v: serde_json::Value = serde_json::from_str(assertion)
            .map_err(|e| IdentityError::Validation(e.to_string()))?;
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let (identity, contents) = (field("identity"), field("contents"));
        if mac(&identity, &contents) != field("mac") {
            return Err(IdentityError::Validation("bad MAC".into()));
        }
        Ok(ValidatedIdentity { identity, contents })
    }
}

async fn peer(seed: u8, identity: &'static str, target: Option<&str>) -> PeerConnection {
    let pc = PeerConnection::new(Configuration {
        seed: Some([seed; 32]),
        peer_identity: target.map(str::to_owned),
        ..Default::default()
    })
    .unwrap();
    pc.set_identity_provider(Arc::new(TestIdp { identity }), IdentityOptions::default())
        .await
        .unwrap();
    pc
}

fn trickle(from: PeerConnection, to: PeerConnection) {
    tokio::spawn(async move {
        while let Some(ev) = from.next_event().await {
            match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    let _ = to.add_ice_candidate(c).await;
                }
                PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Closed) => break,
                _ => {}
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_awaiting_peer_identity_on_a_clone_resolves() {
    let a = peer(1, "alice@example.org", Some("bob@example.org")).await;
    let b = peer(2, "bob@example.org", None).await;
    // Several tasks wait on clones of b's handle before anything is signalled.
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move { b.peer_identity().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(waiters.iter().all(|w| !w.is_finished()));

    let assertion = a.get_identity_assertion().await.unwrap();
    let channel = a
        .create_data_channel("chat", DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    assert!(offer.sdp.contains(&format!("a=identity:{assertion}\r\n")));
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();

    for w in waiters {
        let who = tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("peer_identity did not resolve")
            .unwrap()
            .unwrap();
        assert_eq!(
            (who.idp.as_str(), who.name.as_str()),
            ("example.org", "alice@example.org")
        );
    }
    // Resolved: later calls return at once, on a's side too.
    assert_eq!(a.peer_identity().await.unwrap().name, "bob@example.org");
    assert_eq!(
        b.clone().peer_identity().await.unwrap().name,
        "alice@example.org"
    );

    // And the two connect with those certificates.
    trickle(a.clone(), b.clone());
    trickle(b.clone(), a.clone());
    tokio::time::timeout(Duration::from_secs(10), channel.wait_open())
        .await
        .expect("channel did not open")
        .unwrap();
    assert_eq!(a.peer_identity().await.unwrap().name, "bob@example.org");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_mismatched_peer_is_refused_and_close_ends_the_wait() {
    let a = peer(3, "alice@x", Some("bob@x")).await;
    let b = peer(4, "mallory@x", None).await;
    let waiting = {
        let a = a.clone();
        tokio::spawn(async move { a.peer_identity().await })
    };
    a.create_data_channel("chat", DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    let Err(Error::Core(e)) = a.set_remote_description(answer).await else {
        panic!("mallory's answer was accepted")
    };
    assert_eq!(e.name(), "OperationError");
    assert!(matches!(
        e.identity_error(),
        Some(IdentityError::IdentityMismatch { .. })
    ));
    // The waiter saw the failure.
    let Err(Error::Core(e)) = waiting.await.unwrap() else {
        panic!("peer_identity resolved")
    };
    assert!(e.identity_error().is_some());
    // A new wait ends when the connection closes.
    let again = {
        let a = a.clone();
        tokio::spawn(async move { a.peer_identity().await })
    };
    tokio::task::yield_now().await;
    a.close().await;
    assert!(matches!(again.await.unwrap(), Err(Error::Closed)));
    // peerIdentity cannot change by setConfiguration.
    let b_config = Configuration {
        peer_identity: Some("someone@x".into()),
        ..b.get_configuration()
    };
    assert!(matches!(
        b.set_configuration(b_config).await,
        Err(Error::InvalidModification("peerIdentity"))
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn a_wait_begun_after_a_failure_ends_with_the_next_equal_failure() {
    let a = peer(5, "alice@x", Some("bob@x")).await;
    let b = peer(6, "mallory@x", None).await;
    a.create_data_channel("chat", DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    assert!(a.set_remote_description(answer.clone()).await.is_err());
    // Begun after that failure: waits for the next description...
    let waiting = {
        let a = a.clone();
        tokio::spawn(async move { a.peer_identity().await })
    };
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    // ...which fails the same way, and the wait ends with it.
    assert!(a.set_remote_description(answer).await.is_err());
    let Err(Error::Core(e)) = waiting.await.unwrap() else {
        panic!("peer_identity resolved")
    };
    assert!(matches!(
        e.identity_error(),
        Some(IdentityError::IdentityMismatch { .. })
    ));
}

/// An identity provider that panics (a bug in it).
struct PanickingIdp;

impl IdentityProvider for PanickingIdp {
    fn generate_assertion(
        &self,
        _contents: &str,
        _origin: &str,
        _options: &IdentityOptions,
    ) -> Result<IdentityAssertionResult, IdentityError> {
        panic!("the test identity provider panics");
    }

    fn validate_assertion(
        &self,
        _assertion: &str,
        _origin: &str,
    ) -> Result<ValidatedIdentity, IdentityError> {
        panic!("the test identity provider panics");
    }
}

/// A panic on the connection's task (here in the identity provider that
/// `createOffer` calls there) ends that task: the handles learn that the
/// connection is gone because its task panicked (`TaskPanicked`, with the
/// panic's message, not `Closed`), and the process goes on.
#[tokio::test(flavor = "current_thread")]
async fn a_panic_on_the_connection_task_ends_it_and_its_handles_are_told() {
    let pc = PeerConnection::new(Configuration::default()).unwrap();
    pc.set_identity_provider(Arc::new(PanickingIdp), IdentityOptions::default())
        .await
        .unwrap();
    let dc = pc
        .create_data_channel("c", DataChannelInit::default())
        .await
        .unwrap();
    let mut events = pc.subscribe();
    match pc.create_offer().await {
        Err(Error::TaskPanicked(message)) => {
            assert!(message.contains("identity provider panics"), "{message}");
        }
        other => panic!("create_offer after the panic: {other:?}"),
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while events.recv().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the connection's event stream ended");
    assert_eq!(dc.ready_state(), ferrtc::DataChannelState::Closed);
    assert!(dc.send_text("late").await.is_err());
    assert!(
        pc.create_data_channel("d", DataChannelInit::default())
            .await
            .is_err()
    );
}
