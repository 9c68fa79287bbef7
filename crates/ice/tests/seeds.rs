//! RFC 8445 §5.3: an agent's credentials are random. `Agent::new` with the
//! default configuration draws them from the operating system's CSPRNG.

use std::time::Instant;

use ferrtc_ice::{Agent, AgentConfig};

#[test]
fn default_agents_have_different_credentials() {
    let now = Instant::now();
    let a = Agent::new(AgentConfig::default(), now);
    let b = Agent::new(AgentConfig::default(), now);
    assert_ne!(a.local_credentials().ufrag(), b.local_credentials().ufrag());
    assert_ne!(a.local_credentials().pwd(), b.local_credentials().pwd());
}

#[test]
fn equal_seeds_still_give_equal_credentials_for_tests() {
    let now = Instant::now();
    let config = || AgentConfig {
        seed: Some(5),
        ..AgentConfig::default()
    };
    let (a, b) = (Agent::new(config(), now), Agent::new(config(), now));
    assert_eq!(a.local_credentials(), b.local_credentials());
}
