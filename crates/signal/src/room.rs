//! The room: who is connected, who has which name, and where a signal goes.
//!
//! A pure state machine in the sans-IO shape of the protocol crates: the
//! driver ([`crate::server`]) feeds it `connect`, `handle` and `disconnect`
//! and pulls messages out with [`Room::poll_delivery`]. The user list is not a
//! delivery: the driver publishes [`Room::users`] when
//! [`Room::take_users_changed`] says so, so that a burst of joins costs one
//! list per client, not one per join.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::error::SignalError;
use crate::protocol::{ClientMessage, ServerMessage, Signal, validate_name};

/// Identifies one connection (or one bot) for the lifetime of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientId(pub(crate) u64);

#[derive(Debug, Default)]
struct Member {
    /// The name, once joined.
    name: Option<String>,
    /// Clients this one exchanged signals with, told with a `bye` when it
    /// leaves.
    contacts: BTreeSet<ClientId>,
}

/// The room's state.
#[derive(Debug)]
pub(crate) struct Room {
    members: HashMap<ClientId, Member>,
    names: BTreeMap<String, ClientId>,
    deliveries: VecDeque<(ClientId, ServerMessage)>,
    users_changed: bool,
    max_users: usize,
}

impl Room {
    pub(crate) fn new(max_users: usize) -> Self {
        Self {
            members: HashMap::new(),
            names: BTreeMap::new(),
            deliveries: VecDeque::new(),
            users_changed: false,
            max_users,
        }
    }

    /// A new connection, not yet joined.
    pub(crate) fn connect(&mut self, id: ClientId) {
        self.members.entry(id).or_default();
    }

    /// Handles one message of client `id`. An error is for the caller to send
    /// back to `id`; the room is unchanged by it.
    pub(crate) fn handle(
        &mut self,
        id: ClientId,
        message: ClientMessage,
    ) -> Result<(), SignalError> {
        match message {
            ClientMessage::Join { name } => self.join(id, name),
            ClientMessage::Signal { target, signal } => self.relay(id, &target, signal),
        }
    }

    fn join(&mut self, id: ClientId, name: String) -> Result<(), SignalError> {
        let member = self.members.get(&id).ok_or(SignalError::NotJoined)?;
        if let Some(current) = &member.name {
            return Err(SignalError::AlreadyJoined {
                name: current.clone(),
            });
        }
        validate_name(&name)?;
        if self.names.contains_key(&name) {
            return Err(SignalError::NameTaken { name });
        }
        if self.names.len() >= self.max_users {
            return Err(SignalError::RoomFull {
                max: self.max_users,
            });
        }
        self.names.insert(name.clone(), id);
        if let Some(member) = self.members.get_mut(&id) {
            member.name = Some(name.clone());
        }
        self.deliveries
            .push_back((id, ServerMessage::Joined { name }));
        self.users_changed = true;
        Ok(())
    }

    fn relay(&mut self, id: ClientId, target: &str, signal: Signal) -> Result<(), SignalError> {
        let from = self
            .members
            .get(&id)
            .and_then(|m| m.name.clone())
            .ok_or(SignalError::NotJoined)?;
        let &to = self
            .names
            .get(target)
            .ok_or_else(|| SignalError::UnknownTarget {
                name: target.to_owned(),
            })?;
        if to == id {
            return Err(SignalError::SelfTarget);
        }
        // A hang-up ends the pairing; anything else starts or continues it.
        let pairing = !matches!(signal, Signal::Bye {});
        for (a, b) in [(id, to), (to, id)] {
            if let Some(member) = self.members.get_mut(&a) {
                if pairing {
                    member.contacts.insert(b);
                } else {
                    member.contacts.remove(&b);
                }
            }
        }
        self.deliveries
            .push_back((to, ServerMessage::Signal { from, signal }));
        Ok(())
    }

    /// Removes client `id` (closed, lost or kicked); its contacts get a `bye`
    /// from it. Unknown ids are ignored.
    pub(crate) fn disconnect(&mut self, id: ClientId) {
        let Some(member) = self.members.remove(&id) else {
            return;
        };
        let Some(name) = member.name else {
            return;
        };
        self.names.remove(&name);
        self.users_changed = true;
        for contact in member.contacts {
            if let Some(other) = self.members.get_mut(&contact) {
                other.contacts.remove(&id);
                self.deliveries.push_back((
                    contact,
                    ServerMessage::Signal {
                        from: name.clone(),
                        signal: Signal::Bye {},
                    },
                ));
            }
        }
    }

    /// The next message to deliver, and to whom.
    pub(crate) fn poll_delivery(&mut self) -> Option<(ClientId, ServerMessage)> {
        self.deliveries.pop_front()
    }

    /// Whether the user list changed since the last call.
    pub(crate) fn take_users_changed(&mut self) -> bool {
        std::mem::take(&mut self.users_changed)
    }

    /// Names of everyone joined, sorted.
    pub(crate) fn users(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }

    /// Number of joined users.
    pub(crate) fn user_count(&self) -> usize {
        self.names.len()
    }

    /// Number of connections known, joined or not.
    pub(crate) fn client_count(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn join(room: &mut Room, id: u64, name: &str) {
        room.connect(ClientId(id));
        room.handle(
            ClientId(id),
            ClientMessage::Join {
                name: name.to_owned(),
            },
        )
        .unwrap();
    }

    fn drain(room: &mut Room) -> Vec<(ClientId, ServerMessage)> {
        std::iter::from_fn(|| room.poll_delivery()).collect()
    }

    fn offer(target: &str) -> ClientMessage {
        ClientMessage::Signal {
            target: target.into(),
            signal: Signal::Offer { sdp: "v=0".into() },
        }
    }

    #[test]
    fn join_confirms_the_name_and_changes_the_user_list() {
        let mut room = Room::new(10);
        join(&mut room, 1, "alice");
        assert_eq!(
            drain(&mut room),
            vec![(
                ClientId(1),
                ServerMessage::Joined {
                    name: "alice".into()
                }
            )]
        );
        assert!(room.take_users_changed());
        assert!(!room.take_users_changed());
        assert_eq!(room.users(), vec!["alice".to_owned()]);
    }

    #[test]
    fn names_are_unique() {
        let mut room = Room::new(10);
        join(&mut room, 1, "alice");
        room.connect(ClientId(2));
        let err = room.handle(
            ClientId(2),
            ClientMessage::Join {
                name: "alice".into(),
            },
        );
        assert_eq!(err.map_err(|e| e.code()), Err(ErrorCode::NameTaken));
    }

    #[test]
    fn a_second_join_is_refused() {
        let mut room = Room::new(10);
        join(&mut room, 1, "alice");
        let err = room.handle(ClientId(1), ClientMessage::Join { name: "al".into() });
        assert_eq!(err.map_err(|e| e.code()), Err(ErrorCode::AlreadyJoined));
        assert_eq!(room.users(), vec!["alice".to_owned()]);
    }

    #[test]
    fn the_room_refuses_users_past_its_limit() {
        let mut room = Room::new(1);
        join(&mut room, 1, "alice");
        room.connect(ClientId(2));
        let err = room.handle(ClientId(2), ClientMessage::Join { name: "bob".into() });
        assert_eq!(err.map_err(|e| e.code()), Err(ErrorCode::RoomFull));
    }

    #[test]
    fn signals_go_to_the_named_target_with_the_sender_name() {
        let mut room = Room::new(10);
        join(&mut room, 1, "alice");
        join(&mut room, 2, "bob");
        drain(&mut room);
        room.handle(ClientId(1), offer("bob")).unwrap();
        assert_eq!(
            drain(&mut room),
            vec![(
                ClientId(2),
                ServerMessage::Signal {
                    from: "alice".into(),
                    signal: Signal::Offer { sdp: "v=0".into() }
                }
            )]
        );
    }

    #[test]
    fn signals_need_a_name_a_known_target_and_not_oneself() {
        let mut room = Room::new(10);
        room.connect(ClientId(1));
        assert_eq!(
            room.handle(ClientId(1), offer("bob")).map_err(|e| e.code()),
            Err(ErrorCode::NotJoined)
        );
        join(&mut room, 1, "alice");
        assert_eq!(
            room.handle(ClientId(1), offer("bob")).map_err(|e| e.code()),
            Err(ErrorCode::UnknownTarget)
        );
        assert_eq!(
            room.handle(ClientId(1), offer("alice"))
                .map_err(|e| e.code()),
            Err(ErrorCode::SelfTarget)
        );
    }

    #[test]
    fn a_client_that_leaves_is_removed_and_its_peers_get_bye() {
        let mut room = Room::new(10);
        join(&mut room, 1, "alice");
        join(&mut room, 2, "bob");
        join(&mut room, 3, "carol");
        room.handle(ClientId(1), offer("bob")).unwrap();
        drain(&mut room);
        room.take_users_changed();

        room.disconnect(ClientId(1));
        assert_eq!(
            drain(&mut room),
            vec![(
                ClientId(2),
                ServerMessage::Signal {
                    from: "alice".into(),
                    signal: Signal::Bye {}
                }
            )],
            "bob was talking to alice, carol was not"
        );
        assert!(room.take_users_changed());
        assert_eq!(room.users(), vec!["bob".to_owned(), "carol".to_owned()]);
        assert_eq!(room.client_count(), 2);
    }

    #[test]
    fn after_a_hang_up_leaving_sends_no_second_bye() {
        let mut room = Room::new(10);
        join(&mut room, 1, "alice");
        join(&mut room, 2, "bob");
        room.handle(ClientId(1), offer("bob")).unwrap();
        room.handle(
            ClientId(1),
            ClientMessage::Signal {
                target: "bob".into(),
                signal: Signal::Bye {},
            },
        )
        .unwrap();
        drain(&mut room);
        room.disconnect(ClientId(1));
        assert_eq!(drain(&mut room), vec![]);
    }

    #[test]
    fn a_name_is_free_again_after_its_owner_leaves() {
        let mut room = Room::new(10);
        join(&mut room, 1, "alice");
        room.disconnect(ClientId(1));
        join(&mut room, 2, "alice");
        assert_eq!(room.user_count(), 1);
    }

    #[test]
    fn disconnecting_an_unknown_or_unjoined_client_changes_nothing() {
        let mut room = Room::new(10);
        room.disconnect(ClientId(9));
        room.connect(ClientId(1));
        room.disconnect(ClientId(1));
        assert!(!room.take_users_changed());
        assert_eq!(room.client_count(), 0);
    }
}
