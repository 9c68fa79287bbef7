//! MediaStreamTrack and MediaStream state (W3C mediacapture-streams).

use ferrtc_media::track::{
    MediaKind, MediaStream, MediaStreamTrack, TrackEvent, TrackState, new_id, uuid_from_bytes,
};

#[test]
fn ids_are_uuid_v4_shaped_and_distinct() {
    let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
    assert_eq!(ids.len(), 1000);
    for id in ids.iter().take(20) {
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }
    assert_eq!(
        uuid_from_bytes([0xff; 16]),
        "ffffffff-ffff-4fff-bfff-ffffffffffff"
    );
    assert_eq!(
        uuid_from_bytes([0; 16]),
        "00000000-0000-4000-8000-000000000000"
    );
}

#[test]
fn a_new_track_is_live_enabled_unmuted() {
    let t = MediaStreamTrack::new(MediaKind::Video, "camera");
    assert_eq!(t.kind(), MediaKind::Video);
    assert_eq!(t.kind().as_str(), "video");
    assert_eq!(t.label(), "camera");
    assert!(t.enabled() && !t.muted());
    assert_eq!(t.ready_state(), TrackState::Live);
}

#[test]
fn source_end_fires_ended_once_and_stop_fires_nothing() {
    let mut t = MediaStreamTrack::with_id(MediaKind::Audio, "a1", "mic");
    assert!(t.end());
    assert!(!t.end());
    t.stop();
    assert_eq!(t.ready_state(), TrackState::Ended);
    assert_eq!(t.poll_event(), Some(TrackEvent::Ended));
    assert_eq!(t.poll_event(), None);

    // W3C: stop() ends the track without an ended event, and a later
    // source end does not fire one either.
    let mut t = MediaStreamTrack::new(MediaKind::Audio, "mic");
    t.stop();
    t.stop();
    assert_eq!(t.ready_state(), TrackState::Ended);
    assert!(!t.end());
    assert_eq!(t.poll_event(), None);
}

#[test]
fn mute_and_unmute_fire_on_change_only_while_live() {
    let mut t = MediaStreamTrack::new(MediaKind::Video, "remote");
    assert!(!t.set_muted(false));
    assert!(t.set_muted(true));
    assert!(!t.set_muted(true));
    assert!(t.muted());
    assert!(t.set_muted(false));
    t.set_enabled(false);
    assert!(!t.enabled());
    assert_eq!(t.poll_event(), Some(TrackEvent::Mute));
    assert_eq!(t.poll_event(), Some(TrackEvent::Unmute));
    assert_eq!(t.poll_event(), None);
    t.end();
    assert!(!t.set_muted(true));
    assert_eq!(t.poll_event(), Some(TrackEvent::Ended));
    assert_eq!(t.poll_event(), None);
}

#[test]
fn clone_track_has_a_new_id_and_no_shared_state() {
    let mut t = MediaStreamTrack::new(MediaKind::Audio, "mic");
    t.set_muted(true);
    t.set_enabled(false);
    let c = t.clone_track();
    assert_ne!(c.id(), t.id());
    assert_eq!(
        (c.kind(), c.label(), c.enabled(), c.muted()),
        (MediaKind::Audio, "mic", false, true)
    );
    let mut c = c;
    assert_eq!(c.poll_event(), None, "queued events stay with the original");
    c.stop();
    assert_eq!(t.ready_state(), TrackState::Live);
    // Rust's Clone copies the value: the same id, its own state.
    let mut copy = t.clone();
    assert_eq!(copy.id(), t.id());
    copy.end();
    assert_eq!(t.ready_state(), TrackState::Live);
    assert_eq!(t.poll_event(), Some(TrackEvent::Mute));
}

#[test]
fn streams_hold_tracks_once_and_are_active_while_one_is_live() {
    let mut s = MediaStream::with_id("s1");
    assert!(!s.active());
    let a = MediaStreamTrack::with_id(MediaKind::Audio, "a", "mic");
    let v = MediaStreamTrack::with_id(MediaKind::Video, "v", "cam");
    assert!(s.add_track(a.clone()));
    assert!(!s.add_track(a));
    assert!(s.add_track(v));
    assert_eq!(s.get_tracks().len(), 2);
    assert_eq!(s.get_audio_tracks().count(), 1);
    assert_eq!(s.get_video_tracks().next().unwrap().id(), "v");
    assert!(s.active());
    s.get_track_by_id_mut("a").unwrap().stop();
    assert!(s.active());
    s.get_track_by_id_mut("v").unwrap().end();
    assert!(!s.active());
    let c = s.clone_stream();
    assert_ne!(c.id(), s.id());
    assert!(
        c.get_tracks()
            .iter()
            .all(|t| t.id() != "a" && t.id() != "v")
    );
    assert_eq!(c.get_tracks().len(), 2);
    assert_eq!(s.remove_track("a").unwrap().id(), "a");
    assert!(s.remove_track("a").is_none());
    assert!(s.get_track_by_id("a").is_none());
}
