//! The rooms of one node: who is connected where, who has which name, and
//! where a signal goes.
//!
//! A pure state machine in the sans-IO shape of the protocol crates: the
//! driver ([`crate::server`]) feeds it connections, client messages and (in a
//! cluster) what the directory and the other nodes said, and pulls
//! [`Output`]s out with [`Hub::poll_output`]. User lists are not outputs: the
//! driver publishes [`Hub::users`] for each room [`Hub::take_dirty_rooms`]
//! names, so that a burst of joins costs one list per client, not one per
//! join.
//!
//! Alone, a hub is the whole truth. In a cluster ([`Hub::clustered`]) the
//! directory (Redis) owns names: a join is pending until the driver reports
//! the claim's result ([`Hub::claimed`]); users of other nodes are a cache
//! kept by join/leave notices, room snapshots and [`Hub::node_gone`]; a
//! signal for a remote user becomes an [`Output::Forward`]. While the
//! directory is unreachable, joins are checked against local names only and
//! claimed again once it is back ([`Hub::cluster_up`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::error::SignalError;
use crate::protocol::{ClientMessage, ServerMessage, Signal, validate_name};

/// Identifies one connection (or one bot) for the lifetime of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientId(pub(crate) u64);

/// Where a client stands with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seat {
    /// Connected, no name yet.
    Unjoined,
    /// Asked for a name; the directory has not answered.
    Pending(String),
    /// Holds the name.
    Joined(String),
}

#[derive(Debug)]
struct Client {
    room: String,
    seat: Seat,
    /// Users of the room (local or remote, by name) this one exchanged
    /// signals with, told with a `bye` when it leaves.
    contacts: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Room {
    /// Names held or asked for by local clients.
    local: BTreeMap<String, ClientId>,
    /// Users of other nodes: name -> node id.
    remote: BTreeMap<String, String>,
    /// Local connections in the room, joined or not.
    clients: usize,
}

/// The result of claiming a name in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The name is ours; `members` are the room's users on other nodes
    /// (name, node).
    Claimed { members: Vec<(String, String)> },
    /// Another node holds the name.
    Taken,
    /// The room has `max_users` users across the cluster.
    Full,
    /// The directory could not be asked: the name is held locally and
    /// claimed again when the directory is back.
    Unreachable,
}

/// A message between nodes, carried on the receiving node's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeMessage {
    /// `name` joined `room` on `node`.
    Joined {
        room: String,
        name: String,
        node: String,
    },
    /// `name` left `room` on `node`.
    Left {
        room: String,
        name: String,
        node: String,
    },
    /// A signal from `from` (on the sending node) for `to` (on the receiving
    /// node), both in `room`.
    Signal {
        room: String,
        from: String,
        to: String,
        signal: Signal,
    },
}

/// What the hub asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Send `message` to the local client `to`.
    Deliver {
        to: ClientId,
        message: ServerMessage,
    },
    /// Send `error` to `client`, then close its connection.
    Kick {
        client: ClientId,
        error: SignalError,
    },
    /// Cluster: claim `name` in `room` for `client` in the directory; answer
    /// with [`Hub::claimed`].
    Claim {
        client: ClientId,
        room: String,
        name: String,
    },
    /// Cluster: `name` left `room`; free it in the directory.
    Release { room: String, name: String },
    /// Cluster: send `message` to the node `node`.
    Forward { node: String, message: NodeMessage },
    /// Cluster: read the room's members from the directory; answer with
    /// [`Hub::room_snapshot`].
    Sync { room: String },
    /// Cluster, on reconnect: free every name the directory has for this
    /// node that is not in `held` (room, name): releases lost while the
    /// directory was unreachable.
    Reconcile { held: Vec<(String, String)> },
}

/// The rooms' state on one node.
#[derive(Debug)]
pub(crate) struct Hub {
    clients: HashMap<ClientId, Client>,
    rooms: HashMap<String, Room>,
    outputs: VecDeque<Output>,
    dirty: BTreeSet<String>,
    max_users: usize,
    /// `None` alone; in a cluster, whether the directory is reachable.
    cluster_up: Option<bool>,
}

impl Hub {
    /// A hub that is the only node.
    pub(crate) fn new(max_users: usize) -> Self {
        Self {
            clients: HashMap::new(),
            rooms: HashMap::new(),
            outputs: VecDeque::new(),
            dirty: BTreeSet::new(),
            max_users,
            cluster_up: None,
        }
    }

    /// A hub that is one node of a cluster, its directory not yet reached.
    pub(crate) fn clustered(max_users: usize) -> Self {
        Self {
            cluster_up: Some(false),
            ..Self::new(max_users)
        }
    }

    fn directory_up(&self) -> bool {
        self.cluster_up == Some(true)
    }

    /// A new connection in `room`, not yet joined.
    pub(crate) fn connect(&mut self, id: ClientId, room: &str) {
        if self.clients.contains_key(&id) {
            return;
        }
        let new_room = !self.rooms.contains_key(room);
        self.rooms.entry(room.to_owned()).or_default().clients += 1;
        self.clients.insert(
            id,
            Client {
                room: room.to_owned(),
                seat: Seat::Unjoined,
                contacts: BTreeSet::new(),
            },
        );
        if new_room && self.directory_up() {
            self.outputs.push_back(Output::Sync {
                room: room.to_owned(),
            });
        }
    }

    /// Handles one message of client `id`. An error is for the caller to send
    /// back to `id`; the hub is unchanged by it.
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
        let client = self.clients.get(&id).ok_or(SignalError::NotJoined)?;
        match &client.seat {
            Seat::Joined(current) | Seat::Pending(current) => {
                return Err(SignalError::AlreadyJoined {
                    name: current.clone(),
                });
            }
            Seat::Unjoined => {}
        }
        validate_name(&name)?;
        let up = self.directory_up();
        let room_name = client.room.clone();
        let room = self.rooms.entry(room_name.clone()).or_default();
        if room.local.contains_key(&name) || (up && room.remote.contains_key(&name)) {
            return Err(SignalError::NameTaken { name });
        }
        if room.local.len() + room.remote.len() >= self.max_users {
            return Err(SignalError::RoomFull {
                max: self.max_users,
            });
        }
        room.local.insert(name.clone(), id);
        if up {
            self.set_seat(id, Seat::Pending(name.clone()));
            self.outputs.push_back(Output::Claim {
                client: id,
                room: room_name,
                name,
            });
        } else {
            self.seat(id, room_name, name);
        }
        Ok(())
    }

    fn set_seat(&mut self, id: ClientId, seat: Seat) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.seat = seat;
        }
    }

    /// Gives `id` its name: confirmed to it, and the room's list changes.
    fn seat(&mut self, id: ClientId, room: String, name: String) {
        self.set_seat(id, Seat::Joined(name.clone()));
        self.outputs.push_back(Output::Deliver {
            to: id,
            message: ServerMessage::Joined { name },
        });
        self.dirty.insert(room);
    }

    /// The directory's answer to an [`Output::Claim`].
    pub(crate) fn claimed(&mut self, id: ClientId, room: &str, name: &str, result: Claim) {
        let seat = self
            .clients
            .get(&id)
            .filter(|c| c.room == room)
            .map(|c| c.seat.clone());
        let pending = seat.as_ref() == Some(&Seat::Pending(name.to_owned()));
        let joined = seat.as_ref() == Some(&Seat::Joined(name.to_owned()));
        match result {
            Claim::Claimed { members } => {
                if !pending && !joined {
                    // The client left while the claim was on its way. The
                    // directory's entry names this node, not the client: if
                    // another local client holds or is claiming the name
                    // now, the entry is that client's and stays.
                    let reused = self
                        .rooms
                        .get(room)
                        .is_some_and(|r| r.local.contains_key(name));
                    if !reused {
                        self.outputs.push_back(Output::Release {
                            room: room.to_owned(),
                            name: name.to_owned(),
                        });
                    }
                    return;
                }
                self.merge_members(room, members);
                if pending {
                    self.seat(id, room.to_owned(), name.to_owned());
                }
            }
            Claim::Unreachable => {
                if pending {
                    self.seat(id, room.to_owned(), name.to_owned());
                }
            }
            Claim::Taken | Claim::Full => {
                let error = if result == Claim::Taken {
                    SignalError::NameTaken {
                        name: name.to_owned(),
                    }
                } else {
                    SignalError::RoomFull {
                        max: self.max_users,
                    }
                };
                if pending {
                    if let Some(r) = self.rooms.get_mut(room) {
                        r.local.remove(name);
                    }
                    self.set_seat(id, Seat::Unjoined);
                    self.outputs.push_back(Output::Deliver {
                        to: id,
                        message: ServerMessage::from(&error),
                    });
                } else if joined {
                    // Restoring presence found the name taken on another
                    // node while the directory was away: one of the two goes.
                    self.outputs.push_back(Output::Kick { client: id, error });
                }
            }
        }
    }

    /// Adds remote members learned from the directory (never removes).
    fn merge_members(&mut self, room: &str, members: Vec<(String, String)>) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let mut changed = false;
        for (name, node) in members {
            if r.local.contains_key(&name) {
                continue;
            }
            changed |= r.remote.insert(name, node.clone()).as_ref() != Some(&node);
        }
        if changed {
            self.dirty.insert(room.to_owned());
        }
    }

    fn relay(&mut self, id: ClientId, target: &str, signal: Signal) -> Result<(), SignalError> {
        let client = self.clients.get(&id).ok_or(SignalError::NotJoined)?;
        let Seat::Joined(from) = &client.seat else {
            return Err(SignalError::NotJoined);
        };
        let from = from.clone();
        if target == from {
            return Err(SignalError::SelfTarget);
        }
        let room_name = client.room.clone();
        let room = self.rooms.get(&room_name);
        let local = room.and_then(|r| r.local.get(target)).copied();
        let remote = room.and_then(|r| r.remote.get(target)).cloned();
        // A hang-up ends the pairing; anything else starts or continues it.
        let pairing = !matches!(signal, Signal::Bye {});
        match (local, remote) {
            (Some(to), _) if self.is_joined(to) => {
                self.pair(id, target, pairing);
                self.pair(to, &from, pairing);
                self.outputs.push_back(Output::Deliver {
                    to,
                    message: ServerMessage::Signal { from, signal },
                });
                Ok(())
            }
            (_, Some(node)) => {
                if !self.directory_up() {
                    return Err(SignalError::Unavailable {
                        name: target.to_owned(),
                    });
                }
                self.pair(id, target, pairing);
                self.outputs.push_back(Output::Forward {
                    node,
                    message: NodeMessage::Signal {
                        room: room_name,
                        from,
                        to: target.to_owned(),
                        signal,
                    },
                });
                Ok(())
            }
            _ => Err(SignalError::UnknownTarget {
                name: target.to_owned(),
            }),
        }
    }

    /// The local client holding `name` in the room of client `near`.
    pub(crate) fn local_client_near(&self, near: ClientId, name: &str) -> Option<ClientId> {
        let room = &self.clients.get(&near)?.room;
        self.rooms.get(room)?.local.get(name).copied()
    }

    fn is_joined(&self, id: ClientId) -> bool {
        self.clients
            .get(&id)
            .is_some_and(|c| matches!(c.seat, Seat::Joined(_)))
    }

    fn pair(&mut self, id: ClientId, other: &str, pairing: bool) {
        if let Some(client) = self.clients.get_mut(&id) {
            if pairing {
                client.contacts.insert(other.to_owned());
            } else {
                client.contacts.remove(other);
            }
        }
    }

    /// A message from another node.
    pub(crate) fn node_message(&mut self, message: NodeMessage) {
        match message {
            NodeMessage::Joined { room, name, node } => {
                self.merge_members(&room, vec![(name, node)]);
            }
            NodeMessage::Left { room, name, node } => {
                if let Some(r) = self.rooms.get_mut(&room)
                    && r.remote.get(&name) == Some(&node)
                {
                    r.remote.remove(&name);
                    self.dirty.insert(room);
                }
            }
            NodeMessage::Signal {
                room,
                from,
                to,
                signal,
            } => {
                let Some(&id) = self.rooms.get(&room).and_then(|r| r.local.get(&to)) else {
                    tracing::debug!(%room, %to, "signal for a user not on this node; dropped");
                    return;
                };
                if !self.is_joined(id) {
                    return;
                }
                self.pair(id, &from, !matches!(signal, Signal::Bye {}));
                self.outputs.push_back(Output::Deliver {
                    to: id,
                    message: ServerMessage::Signal { from, signal },
                });
            }
        }
    }

    /// The members of `room` on other nodes, as the directory has them now
    /// (answer to [`Output::Sync`]). Users no longer there leave the list
    /// silently: a user that left sent its own `bye`, and a dead node's
    /// users are told by [`Self::node_gone`].
    pub(crate) fn room_snapshot(&mut self, room: &str, members: Vec<(String, String)>) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let fresh: BTreeMap<String, String> = members
            .into_iter()
            .filter(|(name, _)| !r.local.contains_key(name))
            .collect();
        if fresh != r.remote {
            r.remote = fresh;
            self.dirty.insert(room.to_owned());
        }
    }

    /// The node `node` died: its users leave every list, and their local
    /// contacts get a `bye` from them.
    pub(crate) fn node_gone(&mut self, node: &str) {
        let mut gone: Vec<(String, String)> = Vec::new();
        for (room_name, room) in &mut self.rooms {
            room.remote.retain(|name, n| {
                let keep = n != node;
                if !keep {
                    gone.push((room_name.clone(), name.clone()));
                }
                keep
            });
        }
        for (room, name) in gone {
            self.dirty.insert(room.clone());
            self.bye_contacts_of(&room, &name);
        }
    }

    /// Tells every local client in `room` that had `name` as a contact.
    fn bye_contacts_of(&mut self, room: &str, name: &str) {
        let mut told = Vec::new();
        for (&id, client) in &mut self.clients {
            if client.room == room && client.contacts.remove(name) {
                told.push(id);
            }
        }
        told.sort();
        for id in told {
            self.outputs.push_back(Output::Deliver {
                to: id,
                message: ServerMessage::Signal {
                    from: name.to_owned(),
                    signal: Signal::Bye {},
                },
            });
        }
    }

    /// The directory is reachable again: every name held here is claimed
    /// again (the directory may have lost it) and every room is re-read.
    pub(crate) fn cluster_up(&mut self) {
        if self.cluster_up.is_none() {
            return;
        }
        self.cluster_up = Some(true);
        // Names held or being claimed here; the directory forgets the rest
        // of this node's names (their releases may have been lost), before
        // the claims below, which the driver sends in order.
        let mut held: Vec<(String, String)> = self
            .clients
            .values()
            .filter_map(|c| match &c.seat {
                Seat::Joined(name) | Seat::Pending(name) => Some((c.room.clone(), name.clone())),
                Seat::Unjoined => None,
            })
            .collect();
        held.sort();
        self.outputs.push_back(Output::Reconcile { held });
        let mut claims: Vec<Output> = self
            .clients
            .iter()
            .filter_map(|(&id, c)| match &c.seat {
                Seat::Joined(name) => Some(Output::Claim {
                    client: id,
                    room: c.room.clone(),
                    name: name.clone(),
                }),
                _ => None,
            })
            .collect();
        claims.sort_by_key(|o| match o {
            Output::Claim { client, .. } => *client,
            _ => ClientId(0),
        });
        self.outputs.extend(claims);
        let mut rooms: Vec<String> = self.rooms.keys().cloned().collect();
        rooms.sort();
        self.outputs
            .extend(rooms.into_iter().map(|room| Output::Sync { room }));
    }

    /// The directory is unreachable: local users go on; signals for remote
    /// users are refused with `unavailable` until it is back.
    pub(crate) fn cluster_down(&mut self) {
        if self.cluster_up.is_some() {
            self.cluster_up = Some(false);
        }
    }

    /// Every room with local clients, to re-read from the directory.
    pub(crate) fn resync(&mut self) {
        if !self.directory_up() {
            return;
        }
        let mut rooms: Vec<String> = self.rooms.keys().cloned().collect();
        rooms.sort();
        self.outputs
            .extend(rooms.into_iter().map(|room| Output::Sync { room }));
    }

    /// Removes client `id` (closed, lost or kicked); its contacts get a `bye`
    /// from it. Unknown ids are ignored.
    pub(crate) fn disconnect(&mut self, id: ClientId) {
        let Some(client) = self.clients.remove(&id) else {
            return;
        };
        let room_name = client.room;
        let Some(room) = self.rooms.get_mut(&room_name) else {
            return;
        };
        room.clients = room.clients.saturating_sub(1);
        match client.seat {
            Seat::Unjoined => {}
            // The claim's answer will find the client gone and release it.
            Seat::Pending(name) => {
                room.local.remove(&name);
            }
            Seat::Joined(name) => {
                room.local.remove(&name);
                self.dirty.insert(room_name.clone());
                for contact in client.contacts {
                    let local = room.local.get(&contact).copied();
                    let remote = room.remote.get(&contact).cloned();
                    let bye = Signal::Bye {};
                    if let Some(other) = local {
                        if let Some(c) = self.clients.get_mut(&other) {
                            c.contacts.remove(&name);
                        }
                        self.outputs.push_back(Output::Deliver {
                            to: other,
                            message: ServerMessage::Signal {
                                from: name.clone(),
                                signal: bye,
                            },
                        });
                    } else if let Some(node) = remote {
                        // Also while the directory is down: the cluster task
                        // keeps departures until Redis is back.
                        self.outputs.push_back(Output::Forward {
                            node,
                            message: NodeMessage::Signal {
                                room: room_name.clone(),
                                from: name.clone(),
                                to: contact,
                                signal: bye,
                            },
                        });
                    }
                }
                if self.cluster_up.is_some() {
                    self.outputs.push_back(Output::Release {
                        room: room_name.clone(),
                        name,
                    });
                }
            }
        }
        if room.clients == 0 {
            self.rooms.remove(&room_name);
            // Marked so that the driver drops what it keeps for the room
            // (its published list) even when nobody ever joined it.
            self.dirty.insert(room_name);
        }
    }

    /// The next thing to do.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Rooms whose user list changed since the last call.
    pub(crate) fn take_dirty_rooms(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.dirty)
    }

    /// Whether `room` has local clients.
    pub(crate) fn has_room(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// Names of everyone joined in `room`, on this node or another, sorted.
    pub(crate) fn users(&self, room: &str) -> Vec<String> {
        let Some(r) = self.rooms.get(room) else {
            return Vec::new();
        };
        let local = r
            .local
            .iter()
            .filter(|&(_, &id)| self.is_joined(id))
            .map(|(name, _)| name);
        let names: BTreeSet<&String> = local.chain(r.remote.keys()).collect();
        names.into_iter().cloned().collect()
    }

    /// Users joined on this node, in every room.
    pub(crate) fn user_count(&self) -> usize {
        self.clients
            .values()
            .filter(|c| matches!(c.seat, Seat::Joined(_)))
            .count()
    }

    /// Users of other nodes known in this node's rooms.
    pub(crate) fn remote_user_count(&self) -> usize {
        self.rooms.values().map(|r| r.remote.len()).sum()
    }

    /// Number of connections known, joined or not.
    pub(crate) fn client_count(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const R: &str = "default";

    fn join_in(hub: &mut Hub, id: u64, room: &str, name: &str) {
        hub.connect(ClientId(id), room);
        hub.handle(
            ClientId(id),
            ClientMessage::Join {
                name: name.to_owned(),
            },
        )
        .unwrap();
    }

    fn join(hub: &mut Hub, id: u64, name: &str) {
        join_in(hub, id, R, name);
    }

    fn drain(hub: &mut Hub) -> Vec<Output> {
        std::iter::from_fn(|| hub.poll_output()).collect()
    }

    fn offer(target: &str) -> ClientMessage {
        ClientMessage::Signal {
            target: target.into(),
            signal: Signal::Offer { sdp: "v=0".into() },
        }
    }

    fn deliver(to: u64, from: &str, signal: Signal) -> Output {
        Output::Deliver {
            to: ClientId(to),
            message: ServerMessage::Signal {
                from: from.into(),
                signal,
            },
        }
    }

    fn code(r: Result<(), SignalError>) -> Result<(), ErrorCode> {
        r.map_err(|e| e.code())
    }

    #[test]
    fn join_confirms_the_name_and_changes_the_rooms_user_list() {
        let mut hub = Hub::new(10);
        join(&mut hub, 1, "alice");
        assert_eq!(
            drain(&mut hub),
            vec![Output::Deliver {
                to: ClientId(1),
                message: ServerMessage::Joined {
                    name: "alice".into()
                }
            }]
        );
        assert_eq!(hub.take_dirty_rooms(), BTreeSet::from([R.to_owned()]));
        assert!(hub.take_dirty_rooms().is_empty());
        assert_eq!(hub.users(R), vec!["alice".to_owned()]);
    }

    #[test]
    fn names_are_unique_within_a_room_and_free_across_rooms() {
        let mut hub = Hub::new(10);
        join_in(&mut hub, 1, "r1", "alice");
        hub.connect(ClientId(2), "r1");
        let taken = hub.handle(
            ClientId(2),
            ClientMessage::Join {
                name: "alice".into(),
            },
        );
        assert_eq!(code(taken), Err(ErrorCode::NameTaken));
        join_in(&mut hub, 3, "r2", "alice");
        assert_eq!(hub.users("r1"), vec!["alice".to_owned()]);
        assert_eq!(hub.users("r2"), vec!["alice".to_owned()]);
    }

    #[test]
    fn signals_stay_within_a_room() {
        let mut hub = Hub::new(10);
        join_in(&mut hub, 1, "r1", "alice");
        join_in(&mut hub, 2, "r2", "bob");
        drain(&mut hub);
        assert_eq!(
            code(hub.handle(ClientId(1), offer("bob"))),
            Err(ErrorCode::UnknownTarget)
        );
        assert_eq!(drain(&mut hub), vec![]);
    }

    #[test]
    fn a_second_join_is_refused() {
        let mut hub = Hub::new(10);
        join(&mut hub, 1, "alice");
        let err = hub.handle(ClientId(1), ClientMessage::Join { name: "al".into() });
        assert_eq!(code(err), Err(ErrorCode::AlreadyJoined));
        assert_eq!(hub.users(R), vec!["alice".to_owned()]);
    }

    #[test]
    fn a_room_refuses_users_past_its_limit_and_other_rooms_do_not_count() {
        let mut hub = Hub::new(1);
        join(&mut hub, 1, "alice");
        hub.connect(ClientId(2), R);
        let err = hub.handle(ClientId(2), ClientMessage::Join { name: "bob".into() });
        assert_eq!(code(err), Err(ErrorCode::RoomFull));
        join_in(&mut hub, 3, "other", "bob");
    }

    #[test]
    fn signals_go_to_the_named_target_with_the_sender_name() {
        let mut hub = Hub::new(10);
        join(&mut hub, 1, "alice");
        join(&mut hub, 2, "bob");
        drain(&mut hub);
        hub.handle(ClientId(1), offer("bob")).unwrap();
        assert_eq!(
            drain(&mut hub),
            vec![deliver(2, "alice", Signal::Offer { sdp: "v=0".into() })]
        );
    }

    #[test]
    fn signals_need_a_name_a_known_target_and_not_oneself() {
        let mut hub = Hub::new(10);
        hub.connect(ClientId(1), R);
        assert_eq!(
            code(hub.handle(ClientId(1), offer("bob"))),
            Err(ErrorCode::NotJoined)
        );
        join(&mut hub, 1, "alice");
        assert_eq!(
            code(hub.handle(ClientId(1), offer("bob"))),
            Err(ErrorCode::UnknownTarget)
        );
        assert_eq!(
            code(hub.handle(ClientId(1), offer("alice"))),
            Err(ErrorCode::SelfTarget)
        );
    }

    #[test]
    fn a_client_that_leaves_is_removed_and_its_peers_get_bye() {
        let mut hub = Hub::new(10);
        join(&mut hub, 1, "alice");
        join(&mut hub, 2, "bob");
        join(&mut hub, 3, "carol");
        hub.handle(ClientId(1), offer("bob")).unwrap();
        drain(&mut hub);
        hub.take_dirty_rooms();

        hub.disconnect(ClientId(1));
        assert_eq!(
            drain(&mut hub),
            vec![deliver(2, "alice", Signal::Bye {})],
            "bob was talking to alice, carol was not"
        );
        assert_eq!(hub.take_dirty_rooms(), BTreeSet::from([R.to_owned()]));
        assert_eq!(hub.users(R), vec!["bob".to_owned(), "carol".to_owned()]);
        assert_eq!(hub.client_count(), 2);
    }

    #[test]
    fn after_a_hang_up_leaving_sends_no_second_bye() {
        let mut hub = Hub::new(10);
        join(&mut hub, 1, "alice");
        join(&mut hub, 2, "bob");
        hub.handle(ClientId(1), offer("bob")).unwrap();
        hub.handle(
            ClientId(1),
            ClientMessage::Signal {
                target: "bob".into(),
                signal: Signal::Bye {},
            },
        )
        .unwrap();
        drain(&mut hub);
        hub.disconnect(ClientId(1));
        assert_eq!(drain(&mut hub), vec![]);
    }

    #[test]
    fn a_name_is_free_again_after_its_owner_leaves_and_an_empty_room_is_forgotten() {
        let mut hub = Hub::new(10);
        join(&mut hub, 1, "alice");
        hub.disconnect(ClientId(1));
        assert!(!hub.has_room(R));
        join(&mut hub, 2, "alice");
        assert_eq!(hub.user_count(), 1);
    }

    #[test]
    fn disconnecting_an_unknown_client_changes_nothing() {
        let mut hub = Hub::new(10);
        hub.connect(ClientId(1), R);
        hub.take_dirty_rooms();
        hub.disconnect(ClientId(9));
        assert!(hub.take_dirty_rooms().is_empty());
        assert_eq!(hub.client_count(), 1);
    }

    #[test]
    fn a_room_nobody_joined_is_reported_changed_when_its_last_client_leaves() {
        let mut hub = Hub::new(10);
        hub.connect(ClientId(1), "r1");
        hub.connect(ClientId(2), "r1");
        hub.disconnect(ClientId(1));
        assert!(hub.take_dirty_rooms().is_empty(), "r1 still has a client");
        hub.disconnect(ClientId(2));
        assert_eq!(hub.take_dirty_rooms(), BTreeSet::from(["r1".to_owned()]));
        assert!(!hub.has_room("r1"));
        assert_eq!(hub.client_count(), 0);
    }

    // The cluster side.

    fn up_hub() -> Hub {
        let mut hub = Hub::clustered(10);
        hub.cluster_up();
        drain(&mut hub);
        hub
    }

    #[test]
    fn in_a_cluster_a_join_waits_for_the_directory() {
        let mut hub = up_hub();
        hub.connect(ClientId(1), R);
        assert_eq!(drain(&mut hub), vec![Output::Sync { room: R.into() }]);
        hub.handle(
            ClientId(1),
            ClientMessage::Join {
                name: "alice".into(),
            },
        )
        .unwrap();
        assert_eq!(
            drain(&mut hub),
            vec![Output::Claim {
                client: ClientId(1),
                room: R.into(),
                name: "alice".into()
            }]
        );
        assert!(hub.users(R).is_empty(), "not joined before the claim");
        let again = hub.handle(ClientId(1), ClientMessage::Join { name: "x".into() });
        assert_eq!(code(again), Err(ErrorCode::AlreadyJoined));
        hub.claimed(
            ClientId(1),
            R,
            "alice",
            Claim::Claimed {
                members: vec![("bob".into(), "n2".into())],
            },
        );
        assert!(matches!(
            drain(&mut hub).as_slice(),
            [Output::Deliver {
                message: ServerMessage::Joined { .. },
                ..
            }]
        ));
        assert_eq!(hub.users(R), vec!["alice".to_owned(), "bob".to_owned()]);
        assert_eq!(hub.remote_user_count(), 1);
    }

    #[test]
    fn a_name_taken_on_another_node_is_refused_with_name_taken() {
        let mut hub = up_hub();
        hub.connect(ClientId(1), R);
        hub.handle(
            ClientId(1),
            ClientMessage::Join {
                name: "alice".into(),
            },
        )
        .unwrap();
        drain(&mut hub);
        hub.claimed(ClientId(1), R, "alice", Claim::Taken);
        let out = drain(&mut hub);
        assert!(matches!(
            out.as_slice(),
            [Output::Deliver {
                message: ServerMessage::Error {
                    code: ErrorCode::NameTaken,
                    ..
                },
                ..
            }]
        ));
        // Free to try another name.
        hub.handle(ClientId(1), ClientMessage::Join { name: "al".into() })
            .unwrap();
    }

    #[test]
    fn a_claim_answered_after_the_client_left_is_released() {
        let mut hub = up_hub();
        hub.connect(ClientId(1), R);
        hub.connect(ClientId(2), R);
        hub.handle(
            ClientId(1),
            ClientMessage::Join {
                name: "alice".into(),
            },
        )
        .unwrap();
        hub.disconnect(ClientId(1));
        drain(&mut hub);
        hub.claimed(ClientId(1), R, "alice", Claim::Claimed { members: vec![] });
        assert_eq!(
            drain(&mut hub),
            vec![Output::Release {
                room: R.into(),
                name: "alice".into()
            }]
        );
    }

    #[test]
    fn a_late_claim_answer_keeps_a_name_another_local_client_took_meanwhile() {
        let mut hub = up_hub();
        hub.connect(ClientId(1), R);
        hub.connect(ClientId(2), R);
        let alice = || ClientMessage::Join {
            name: "alice".into(),
        };
        hub.handle(ClientId(1), alice()).unwrap();
        hub.disconnect(ClientId(1));
        // w2 claims the same name before w1's claim is answered.
        hub.handle(ClientId(2), alice()).unwrap();
        drain(&mut hub);
        hub.claimed(ClientId(1), R, "alice", Claim::Claimed { members: vec![] });
        assert_eq!(drain(&mut hub), vec![], "no Release while w2 claims alice");
        hub.claimed(ClientId(2), R, "alice", Claim::Claimed { members: vec![] });
        drain(&mut hub);
        // And once w2 holds it, a late answer (e.g. a duplicate) keeps it too.
        hub.claimed(ClientId(1), R, "alice", Claim::Claimed { members: vec![] });
        assert_eq!(drain(&mut hub), vec![], "no Release while w2 holds alice");
        assert_eq!(hub.users(R), vec!["alice".to_owned()]);
    }

    fn clustered_pair() -> Hub {
        let mut hub = up_hub();
        hub.connect(ClientId(1), R);
        hub.handle(
            ClientId(1),
            ClientMessage::Join {
                name: "alice".into(),
            },
        )
        .unwrap();
        hub.claimed(
            ClientId(1),
            R,
            "alice",
            Claim::Claimed {
                members: vec![("bob".into(), "n2".into())],
            },
        );
        drain(&mut hub);
        hub
    }

    #[test]
    fn a_signal_for_a_remote_user_is_forwarded_to_its_node() {
        let mut hub = clustered_pair();
        hub.handle(ClientId(1), offer("bob")).unwrap();
        assert_eq!(
            drain(&mut hub),
            vec![Output::Forward {
                node: "n2".into(),
                message: NodeMessage::Signal {
                    room: R.into(),
                    from: "alice".into(),
                    to: "bob".into(),
                    signal: Signal::Offer { sdp: "v=0".into() }
                }
            }]
        );
    }

    #[test]
    fn a_signal_from_another_node_is_delivered_to_the_named_local_user_only() {
        let mut hub = clustered_pair();
        hub.node_message(NodeMessage::Signal {
            room: R.into(),
            from: "bob".into(),
            to: "alice".into(),
            signal: Signal::Answer { sdp: "v=0".into() },
        });
        hub.node_message(NodeMessage::Signal {
            room: "elsewhere".into(),
            from: "bob".into(),
            to: "alice".into(),
            signal: Signal::Answer { sdp: "x".into() },
        });
        assert_eq!(
            drain(&mut hub),
            vec![deliver(1, "bob", Signal::Answer { sdp: "v=0".into() })]
        );
    }

    #[test]
    fn leaving_tells_remote_contacts_through_their_node_and_releases_the_name() {
        let mut hub = clustered_pair();
        hub.handle(ClientId(1), offer("bob")).unwrap();
        drain(&mut hub);
        hub.disconnect(ClientId(1));
        assert_eq!(
            drain(&mut hub),
            vec![
                Output::Forward {
                    node: "n2".into(),
                    message: NodeMessage::Signal {
                        room: R.into(),
                        from: "alice".into(),
                        to: "bob".into(),
                        signal: Signal::Bye {}
                    }
                },
                Output::Release {
                    room: R.into(),
                    name: "alice".into()
                }
            ]
        );
    }

    #[test]
    fn a_dead_node_takes_its_users_away_and_their_partners_get_bye() {
        let mut hub = clustered_pair();
        hub.node_message(NodeMessage::Joined {
            room: R.into(),
            name: "carol".into(),
            node: "n3".into(),
        });
        hub.handle(ClientId(1), offer("bob")).unwrap();
        drain(&mut hub);
        hub.take_dirty_rooms();
        hub.node_gone("n2");
        assert_eq!(drain(&mut hub), vec![deliver(1, "bob", Signal::Bye {})]);
        assert_eq!(hub.users(R), vec!["alice".to_owned(), "carol".to_owned()]);
        assert!(!hub.take_dirty_rooms().is_empty());
    }

    #[test]
    fn join_and_leave_notices_update_the_list_and_a_stale_leave_is_ignored() {
        let mut hub = clustered_pair();
        hub.node_message(NodeMessage::Left {
            room: R.into(),
            name: "bob".into(),
            node: "n9".into(),
        });
        assert_eq!(hub.users(R), vec!["alice".to_owned(), "bob".to_owned()]);
        hub.node_message(NodeMessage::Left {
            room: R.into(),
            name: "bob".into(),
            node: "n2".into(),
        });
        assert_eq!(hub.users(R), vec!["alice".to_owned()]);
    }

    #[test]
    fn with_the_directory_down_local_users_go_on_and_remote_targets_are_unavailable() {
        let mut hub = clustered_pair();
        hub.cluster_down();
        assert_eq!(
            code(hub.handle(ClientId(1), offer("bob"))),
            Err(ErrorCode::Unavailable)
        );
        // A join is held locally...
        join(&mut hub, 2, "carol");
        assert!(matches!(
            drain(&mut hub).as_slice(),
            [Output::Deliver {
                message: ServerMessage::Joined { .. },
                ..
            }]
        ));
        hub.handle(ClientId(2), offer("alice")).unwrap();
        assert_eq!(
            drain(&mut hub),
            vec![deliver(1, "carol", Signal::Offer { sdp: "v=0".into() })]
        );
        // ...and every name is claimed again when the directory is back.
        hub.cluster_up();
        let out = drain(&mut hub);
        let claims: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::Claim { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(claims, vec!["alice", "carol"]);
        assert!(out.contains(&Output::Sync { room: R.into() }));
    }

    #[test]
    fn on_reconnect_the_directory_is_told_which_names_are_held_before_they_are_claimed() {
        let mut hub = clustered_pair();
        hub.connect(ClientId(2), R);
        hub.handle(
            ClientId(2),
            ClientMessage::Join {
                name: "bob2".into(),
            },
        )
        .unwrap();
        hub.connect(ClientId(3), "r2");
        hub.cluster_down();
        join(&mut hub, 4, "carol");
        hub.disconnect(ClientId(4));
        drain(&mut hub);
        hub.cluster_up();
        let out = drain(&mut hub);
        assert_eq!(
            out.first(),
            Some(&Output::Reconcile {
                held: vec![
                    (R.to_owned(), "alice".to_owned()),
                    (R.to_owned(), "bob2".to_owned())
                ]
            }),
            "carol left while the directory was away: not held; {out:?}"
        );
    }

    #[test]
    fn restoring_a_name_another_node_took_meanwhile_kicks_the_local_user() {
        let mut hub = clustered_pair();
        hub.cluster_down();
        hub.cluster_up();
        drain(&mut hub);
        hub.claimed(ClientId(1), R, "alice", Claim::Taken);
        assert!(matches!(
            drain(&mut hub).as_slice(),
            [Output::Kick {
                client: ClientId(1),
                ..
            }]
        ));
    }

    #[test]
    fn a_snapshot_replaces_the_remote_users_of_a_room() {
        let mut hub = clustered_pair();
        hub.room_snapshot(
            R,
            vec![("alice".into(), "n1".into()), ("dave".into(), "n3".into())],
        );
        assert_eq!(hub.users(R), vec!["alice".to_owned(), "dave".to_owned()]);
        assert_eq!(hub.remote_user_count(), 1);
    }
}
