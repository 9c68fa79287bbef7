//! Peer identity on the async API (W3C webrtc-identity §9.6): the commands
//! the handles send to the connection's task, and the published state
//! behind `peerIdentity`.
//!
//! The identity provider stays synchronous ([`ferrtc_core::IdentityProvider`]):
//! the core calls it inside `create_offer`, `create_answer` and
//! `set_remote_description`, which the task runs, so it runs on the
//! connection's task. That keeps the core's order of events (the remote
//! description is accepted or refused in the same call that validates its
//! identity, as the W3C steps say) without a second, async trait. An IdP
//! that needs the network should fetch its tokens or keys ahead, outside
//! the connection, and sign or check locally; it must not block for long.

use std::sync::Arc;

use ferrtc_core::{IdentityOptions, IdentityProvider, PeerConnection as Core, PeerIdentityState};
use tokio::sync::oneshot;

use crate::Error;

/// An identity call of a handle, run on the task by the driver.
pub(crate) enum IdentityCommand {
    /// `setIdentityProvider`.
    SetProvider(
        Arc<dyn IdentityProvider>,
        IdentityOptions,
        oneshot::Sender<Result<(), Error>>,
    ),
    /// `getIdentityAssertion`.
    GetAssertion(oneshot::Sender<Result<String, Error>>),
}

impl IdentityCommand {
    /// Runs the call on the task's core and replies.
    pub(crate) fn run(self, core: &mut Core) {
        match self {
            IdentityCommand::SetProvider(provider, options, reply) => {
                let _ = reply.send(
                    core.set_identity_provider(provider, options)
                        .map_err(Error::from),
                );
            }
            IdentityCommand::GetAssertion(reply) => {
                let _ = reply.send(core.get_identity_assertion().map_err(Error::from));
            }
        }
    }
}

/// What every handle's `peer_identity()` waits on: the core's state as the
/// task last published it (after each remote description and each change
/// of the connection state), and whether the task has ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Published {
    pub(crate) state: PeerIdentityState,
    pub(crate) closed: bool,
}
