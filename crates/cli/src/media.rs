//! The media of `ferrtc peer`: the `--play` files added as tracks before
//! the offer or the answer and played once negotiated, the tracks of
//! the peer recorded with `--record`, and a still of its first video
//! track written with `--snapshot` (feature `codecs`).

use std::path::PathBuf;
use std::time::Duration;

use ferrtc::{
    MediaKind, MediaStream, MediaStreamTrack, PeerConnection, RtpSender, RtpTransceiverDirection,
    RtpTransceiverInit, TrackEvent,
};
use tokio::task::JoinSet;

use crate::play::{self, PlayFile};
use crate::record::Writers;

/// How long the recorders may take, after the connection closed, to see
/// their tracks end; their files are finished in any case.
const FINISH: Duration = Duration::from_secs(5);

/// The media of one session.
#[derive(Debug, Default)]
pub struct Media {
    /// Files not added as tracks yet.
    files: Vec<PlayFile>,
    /// Tracks added, waiting for the exchange that negotiates them.
    added: Vec<(RtpSender, PlayFile)>,
    /// Where received tracks are recorded.
    record: Option<PathBuf>,
    /// `--snapshot`: where the still of the first received video goes.
    snapshot: Option<PathBuf>,
    /// Whether a video track's snapshot task has written the still
    /// (shared by one task per video track).
    #[cfg(feature = "codecs")]
    snapshot_taken: crate::snapshot::Taken,
    /// `--dtmf` tones not sent yet, and the audio sender they go on.
    dtmf: Option<String>,
    dtmf_sender: Option<RtpSender>,
    /// The players, and the DTMF sender and listeners.
    players: JoinSet<()>,
    /// The recorders, which hand frames to their writer threads.
    recorders: JoinSet<()>,
    /// The recordings' writer threads.
    writers: Writers,
}

impl Media {
    /// The media of a peer that plays `files` and records into `record`.
    pub fn new(files: Vec<PlayFile>, record: Option<PathBuf>) -> Self {
        Media {
            files,
            record,
            ..Media::default()
        }
    }

    /// `--snapshot FILE.png`: a still of the first VP8 picture decoded
    /// from any received video track.
    pub fn set_snapshot(&mut self, path: Option<PathBuf>) {
        self.snapshot = path;
    }

    /// Tones to send on the first audio sender once connected.
    pub fn set_dtmf(&mut self, tones: Option<String>) {
        self.dtmf = tones;
    }

    /// Adds the files as tracks (before our offer, or before our answer so
    /// that they reuse the offered transceivers), and when we offer and
    /// record, a `recvonly` audio and video transceiver for each kind not
    /// played; the file's codec first
    /// in the transceiver's preferences (the only one in an answer, which
    /// keeps the offerer's order).
    pub async fn add_tracks(
        &mut self,
        pc: &PeerConnection,
        answering: bool,
    ) -> Result<(), ferrtc::Error> {
        let stream = MediaStream::with_id("ferrtc");
        if !answering && (self.record.is_some() || self.snapshot.is_some()) {
            // A recorder that offers asks for audio and video (a snapshot
            // for video), so that an answering peer has m-sections to send
            // on; a kind played here is received on the played track's
            // transceiver.
            for kind in [MediaKind::Audio, MediaKind::Video] {
                let wanted = self.record.is_some() || kind == MediaKind::Video;
                if wanted && !self.files.iter().any(|f| f.kind == kind) {
                    let init = RtpTransceiverInit {
                        direction: Some(RtpTransceiverDirection::RecvOnly),
                        ..RtpTransceiverInit::default()
                    };
                    pc.add_transceiver(kind, init).await?;
                }
            }
        }
        for file in std::mem::take(&mut self.files) {
            let label = file
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let track = MediaStreamTrack::new(file.kind, label);
            let sender = pc.add_track(&track, &[&stream]).await?;
            let transceiver = pc
                .get_transceivers()
                .await
                .into_iter()
                .find(|t| t.sender() == sender);
            if let Some(t) = transceiver {
                t.set_codec_preferences(play::preferences(&file, answering))
                    .await?;
            }
            if file.kind == MediaKind::Audio && self.dtmf_sender.is_none() {
                self.dtmf_sender = Some(sender.clone());
            }
            self.added.push((sender, file));
        }
        if self.dtmf.is_some() && self.dtmf_sender.is_none() {
            // Tones need an audio sender: a silent track carries them.
            let track = MediaStreamTrack::new(MediaKind::Audio, "dtmf");
            self.dtmf_sender = Some(pc.add_track(&track, &[&stream]).await?);
        }
        Ok(())
    }

    /// An offer/answer exchange completed: each file whose codec was
    /// negotiated plays; the others are skipped with an error.
    pub fn negotiated(&mut self, pc: &PeerConnection) {
        if let (Some(sender), Some(tones)) = (&self.dtmf_sender, self.dtmf.take()) {
            self.players
                .spawn(crate::dtmf::send(pc.clone(), sender.clone(), tones));
        }
        for (sender, file) in std::mem::take(&mut self.added) {
            let codecs = sender.get_parameters().codecs;
            match codecs.iter().find(|c| !c.is_rtx()) {
                Some(c) if play::same_codec(file.codec, c) => {
                    self.players.spawn(play::play(pc.clone(), sender, file));
                }
                other => {
                    let got = other.map_or("nothing".to_owned(), |c| c.name.clone());
                    tracing::error!(
                        "{}: the answer does not accept {} (it negotiated {got}); not playing it",
                        file.path.display(),
                        file.codec
                    );
                }
            }
        }
    }

    /// The peer's track: recorded when asked.
    pub fn on_track(&mut self, ev: TrackEvent) {
        tracing::info!(
            "remote {} track, streams {:?}",
            ev.track.kind().as_str(),
            ev.streams.iter().map(|s| s.id()).collect::<Vec<_>>()
        );
        if ev.track.kind() == MediaKind::Audio {
            self.players
                .spawn(crate::dtmf::log_received(ev.receiver.clone()));
        }
        #[cfg(feature = "codecs")]
        if ev.track.kind() == MediaKind::Video
            && !self.snapshot_taken.is_set()
            && let Some(path) = &self.snapshot
        {
            // Every video track tries (the first may not be VP8, or get no
            // media); the first picture decoded is the still.
            self.players.spawn(crate::snapshot::snapshot(
                ev.receiver.clone(),
                path.clone(),
                self.snapshot_taken.clone(),
            ));
        }
        if let Some(dir) = &self.record {
            self.recorders.spawn(crate::record::record(
                ev.transceiver,
                ev.receiver,
                dir.clone(),
                self.writers.token(),
            ));
        }
    }

    /// After the connection closed: stops the players at once and waits
    /// for the recorders to finish their files, unless `interrupt` (a
    /// second Ctrl-C) resolves first. A recorder whose track has not ended
    /// [`FINISH`] after the close is stopped; its file is finished too.
    pub async fn finish(mut self, interrupt: impl std::future::Future<Output = ()>) {
        self.players.abort_all();
        let mut interrupt = std::pin::pin!(interrupt);
        let ended = async { while self.recorders.join_next().await.is_some() {} };
        tokio::select! {
            r = tokio::time::timeout(FINISH, ended) => if r.is_err() {
                tracing::warn!("tracks still open {FINISH:?} after the close: finishing their files");
                self.recorders.abort_all();
            },
            () = &mut interrupt => {
                tracing::warn!("interrupted: recordings left unfinished");
                return;
            }
        }
        // An aborted recorder drops its queue: its writer finishes then.
        tokio::select! {
            () = self.writers.wait() => {}
            () = &mut interrupt => tracing::warn!("interrupted: recordings left unfinished"),
        }
    }
}
