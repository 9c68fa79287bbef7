//! The W3C Media Capture and Streams model (mediacapture-streams) as plain
//! values: [`MediaStream`] and [`MediaStreamTrack`], with the track's
//! `ended`, `mute` and `unmute` events queued for the owner to poll
//! ([`MediaStreamTrack::poll_event`]). No I/O and no media: whoever owns the
//! source (a sender, a receiver, a file) drives the state.
//!
//! Clones: `Clone` copies a value: same id, same state, its own event queue;
//! nothing is shared between the copies. The W3C `clone()` (§4.3.1) is
//! [`MediaStreamTrack::clone_track`] / [`MediaStream::clone_stream`]: a new
//! id, the same settings.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Sixteen bytes from std only: `RandomState` keys (random per process) hash
/// a process-wide counter. Unpredictable enough for ids, **not** a secret:
/// do not use it for keys or credentials.
pub fn std_random_bytes() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_usize(i);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// Formats 16 random bytes as a version 4 UUID string (RFC 9562 §5.4):
/// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`, the form browsers use for track
/// and stream ids.
pub fn uuid_from_bytes(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A new id from [`std_random_bytes`] (non-secret).
pub fn new_id() -> String {
    uuid_from_bytes(std_random_bytes())
}

/// `MediaStreamTrack.kind` (W3C mediacapture-streams §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `"audio"`.
    Audio,
    /// `"video"`.
    Video,
}

impl MediaKind {
    /// The W3C string, `"audio"` or `"video"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

/// `MediaStreamTrackState` (W3C mediacapture-streams §4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackState {
    /// `"live"`: the source is attached.
    Live,
    /// `"ended"`: the track will never produce media again.
    Ended,
}

/// The events of a `MediaStreamTrack` (W3C mediacapture-streams §4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackEvent {
    /// `mute`: the source stopped providing media for now.
    Mute,
    /// `unmute`: media flows again.
    Unmute,
    /// `ended`: the source ended (not fired by [`MediaStreamTrack::stop`]).
    Ended,
}

/// A `MediaStreamTrack` (W3C mediacapture-streams §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStreamTrack {
    kind: MediaKind,
    id: String,
    label: String,
    enabled: bool,
    muted: bool,
    ready_state: TrackState,
    events: VecDeque<TrackEvent>,
}

impl MediaStreamTrack {
    /// A live, enabled, unmuted track with a new id ([`new_id`]).
    pub fn new(kind: MediaKind, label: impl Into<String>) -> Self {
        Self::with_id(kind, new_id(), label)
    }

    /// A live, enabled, unmuted track with the given id (from the caller's
    /// RNG through [`uuid_from_bytes`], or from the remote's msid).
    pub fn with_id(kind: MediaKind, id: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
            label: label.into(),
            enabled: true,
            muted: false,
            ready_state: TrackState::Live,
            events: VecDeque::new(),
        }
    }

    /// `kind`.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// `id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `label`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `enabled`: a disabled track sends silence or black (§4.3.1.1).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Sets `enabled`; no event (§4.3.1.1).
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// `muted`: the source provides no media for now (§4.3.1.1).
    pub fn muted(&self) -> bool {
        self.muted
    }

    /// `readyState`.
    pub fn ready_state(&self) -> TrackState {
        self.ready_state
    }

    /// The source's side: sets the muted state (§4.3.1.1, "set a track's
    /// muted state"); queues `mute` or `unmute` when it changes on a live
    /// track. Returns whether an event was queued.
    pub fn set_muted(&mut self, muted: bool) -> bool {
        if self.ready_state == TrackState::Ended || self.muted == muted {
            return false;
        }
        self.muted = muted;
        self.events.push_back(if muted {
            TrackEvent::Mute
        } else {
            TrackEvent::Unmute
        });
        true
    }

    /// `stop()` (§4.3.1): the track ends without an `ended` event, as the
    /// W3C specifies for a stop by the application. Idempotent.
    pub fn stop(&mut self) {
        self.ready_state = TrackState::Ended;
    }

    /// The source's side: the source ended ("track ended" algorithm,
    /// §4.3.1.2: a remote track removed, a file finished, a device gone).
    /// Ends a live track and queues `ended` once; returns whether it did.
    pub fn end(&mut self) -> bool {
        if self.ready_state == TrackState::Ended {
            return false;
        }
        self.ready_state = TrackState::Ended;
        self.events.push_back(TrackEvent::Ended);
        true
    }

    /// The next queued event, oldest first.
    pub fn poll_event(&mut self) -> Option<TrackEvent> {
        self.events.pop_front()
    }

    /// W3C `clone()` (§4.3.1): a new track with a new id ([`new_id`]) and the
    /// same kind, label, enabled, muted and readyState; no queued events.
    pub fn clone_track(&self) -> Self {
        self.clone_track_with_id(new_id())
    }

    /// [`MediaStreamTrack::clone_track`] with the caller's id.
    pub fn clone_track_with_id(&self, id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            events: VecDeque::new(),
            ..self.clone()
        }
    }
}

/// A `MediaStream` (W3C mediacapture-streams §4.2): an id and a set of
/// tracks, each present once by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStream {
    id: String,
    tracks: Vec<MediaStreamTrack>,
}

impl MediaStream {
    /// An empty stream with a new id ([`new_id`]).
    pub fn new() -> Self {
        Self::with_id(new_id())
    }

    /// An empty stream with the given id (e.g. from a remote msid).
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            tracks: Vec::new(),
        }
    }

    /// `id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `active`: whether any track is live (§4.2.4).
    pub fn active(&self) -> bool {
        self.tracks
            .iter()
            .any(|t| t.ready_state() == TrackState::Live)
    }

    /// `addTrack()`: adds the track unless one with its id is there already;
    /// returns whether it was added.
    pub fn add_track(&mut self, track: MediaStreamTrack) -> bool {
        if self.get_track_by_id(track.id()).is_some() {
            return false;
        }
        self.tracks.push(track);
        true
    }

    /// `removeTrack()`: removes and returns the track with this id.
    pub fn remove_track(&mut self, id: &str) -> Option<MediaStreamTrack> {
        let i = self.tracks.iter().position(|t| t.id() == id)?;
        Some(self.tracks.remove(i))
    }

    /// `getTrackById()`.
    pub fn get_track_by_id(&self, id: &str) -> Option<&MediaStreamTrack> {
        self.tracks.iter().find(|t| t.id() == id)
    }

    /// `getTrackById()`, mutable.
    pub fn get_track_by_id_mut(&mut self, id: &str) -> Option<&mut MediaStreamTrack> {
        self.tracks.iter_mut().find(|t| t.id() == id)
    }

    /// `getTracks()`.
    pub fn get_tracks(&self) -> &[MediaStreamTrack] {
        &self.tracks
    }

    /// `getAudioTracks()`.
    pub fn get_audio_tracks(&self) -> impl Iterator<Item = &MediaStreamTrack> {
        self.tracks.iter().filter(|t| t.kind() == MediaKind::Audio)
    }

    /// `getVideoTracks()`.
    pub fn get_video_tracks(&self) -> impl Iterator<Item = &MediaStreamTrack> {
        self.tracks.iter().filter(|t| t.kind() == MediaKind::Video)
    }

    /// W3C `clone()` (§4.2.4): a new stream id and a clone of every track
    /// ([`MediaStreamTrack::clone_track`]).
    pub fn clone_stream(&self) -> Self {
        Self {
            id: new_id(),
            tracks: self.tracks.iter().map(|t| t.clone_track()).collect(),
        }
    }
}

impl Default for MediaStream {
    fn default() -> Self {
        Self::new()
    }
}
