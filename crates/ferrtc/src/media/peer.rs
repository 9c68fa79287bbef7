//! The media calls of `RTCPeerConnection` (W3C webrtc-pc §5.1).

use std::sync::Arc;

use super::task::MediaCommand;
use super::{
    MediaKind, MediaStream, MediaStreamTrack, RtpReceiver, RtpSender, RtpTransceiver,
    RtpTransceiverInit,
};
use crate::driver::Command;
use crate::{Error, PeerConnection};

impl PeerConnection {
    /// `addTrack(track, ...streams)` (W3C webrtc-pc §5.1): reuses a
    /// transceiver of the track's kind that never sent and has no track
    /// (one a remote offer created, say), else adds a `sendrecv` one;
    /// fires `negotiationneeded`. Fails with an `InvalidAccessError` when
    /// the track already has a sender here.
    pub async fn add_track(
        &self,
        track: &MediaStreamTrack,
        streams: &[&MediaStream],
    ) -> Result<RtpSender, Error> {
        let track = track.clone();
        let streams = streams.iter().map(|s| s.id().to_owned()).collect();
        self.ask(|r| Command::Media(Box::new(MediaCommand::AddTrack(track, streams, r))))
            .await
    }

    /// `removeTrack(sender)` (W3C webrtc-pc §5.1): the sender loses its
    /// track and its transceiver stops sending (`sendrecv` becomes
    /// `recvonly`, `sendonly` `inactive`); fires `negotiationneeded`. An
    /// `InvalidAccessError` for a sender of another connection.
    pub async fn remove_track(&self, sender: &RtpSender) -> Result<(), Error> {
        if !Arc::ptr_eq(&sender.shared().link.commands, self.commands()) {
            return Err(ferrtc_core::Error::InvalidAccess {
                message: "the sender belongs to another connection".into(),
                source: None,
            }
            .into());
        }
        let id = sender.shared().id;
        self.ask(|r| Command::Media(Box::new(MediaCommand::RemoveTrack(id, r))))
            .await
    }

    /// `addTransceiver(kind, init)` (W3C webrtc-pc §5.1): a new
    /// transceiver with the default codecs; fires `negotiationneeded`.
    pub async fn add_transceiver(
        &self,
        kind: MediaKind,
        init: RtpTransceiverInit,
    ) -> Result<RtpTransceiver, Error> {
        self.ask(|r| Command::Media(Box::new(MediaCommand::AddTransceiver(kind, init, r))))
            .await
    }

    /// `getTransceivers()`, in creation order (a remote offer creates
    /// some too). Empty once the connection is closed.
    pub async fn get_transceivers(&self) -> Vec<RtpTransceiver> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self
            .commands()
            .send(Command::Media(Box::new(MediaCommand::Transceivers(tx))))
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// `getSenders()`: the senders of the transceivers not stopped.
    pub async fn get_senders(&self) -> Vec<RtpSender> {
        self.get_transceivers()
            .await
            .iter()
            .filter(|t| !t.stopped())
            .map(RtpTransceiver::sender)
            .collect()
    }

    /// `getReceivers()`: the receivers of the transceivers not stopped.
    pub async fn get_receivers(&self) -> Vec<RtpReceiver> {
        self.get_transceivers()
            .await
            .iter()
            .filter(|t| !t.stopped())
            .map(RtpTransceiver::receiver)
            .collect()
    }
}
