//! The media of `ferrtc peer`: the `--play` files added as tracks before
//! the offer or the answer and played once negotiated, and the tracks of
//! the peer recorded with `--record`.

use std::path::PathBuf;
use std::time::Duration;

use ferrtc::{
    MediaKind, MediaStream, MediaStreamTrack, PeerConnection, RtpSender, RtpTransceiverDirection,
    RtpTransceiverInit, TrackEvent,
};
use tokio::task::JoinSet;

use crate::play::{self, PlayFile};

/// How long the recorders may take to finish their files at exit.
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
    /// `--dtmf` tones not sent yet, and the audio sender they go on.
    dtmf: Option<String>,
    dtmf_sender: Option<RtpSender>,
    /// The players and recorders.
    tasks: JoinSet<()>,
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
        if !answering && self.record.is_some() {
            // A recorder that offers asks for audio and video, so that an
            // answering peer has m-sections to send on; a kind played here
            // is received on the played track's transceiver.
            for kind in [MediaKind::Audio, MediaKind::Video] {
                if !self.files.iter().any(|f| f.kind == kind) {
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
            self.tasks
                .spawn(crate::dtmf::send(pc.clone(), sender.clone(), tones));
        }
        for (sender, file) in std::mem::take(&mut self.added) {
            let codecs = sender.get_parameters().codecs;
            match codecs.iter().find(|c| !c.is_rtx()) {
                Some(c) if play::same_codec(file.codec, c) => {
                    self.tasks.spawn(play::play(pc.clone(), sender, file));
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
            self.tasks
                .spawn(crate::dtmf::log_received(ev.receiver.clone()));
        }
        if let Some(dir) = &self.record {
            self.tasks.spawn(crate::record::record(
                ev.transceiver,
                ev.receiver,
                dir.clone(),
            ));
        }
    }

    /// After the connection closed: waits for the recorders to finish
    /// their files (the players end with the connection).
    pub async fn finish(mut self) {
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(FINISH, all).await.is_err() {
            tracing::warn!("media tasks did not finish in time");
        }
    }
}
