//! Codec negotiation rules (RFC 8829 §5.3.1, RFC 6184 §8.2.2, RFC 4588).

use ferrtc_jsep::{
    Codec, H264Profile, RtcpFeedback, default_video_codecs, h264_profile, negotiate_codecs,
};

fn h264(pt: u8, fmtp: &str) -> Codec {
    Codec::new(pt, "H264", 90000, None).with_fmtp(fmtp)
}

#[test]
fn answer_uses_the_offerers_payload_types() {
    let offered = [Codec::new(120, "VP8", 90000, None)];
    let local = [Codec::new(96, "VP8", 90000, None)];
    let out = negotiate_codecs(&offered, &local);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload_type, 120);
}

#[test]
fn codec_names_match_case_insensitively_but_clock_rate_and_channels_must_agree() {
    let local = [Codec::new(111, "opus", 48000, Some(2))];
    assert_eq!(
        negotiate_codecs(&[Codec::new(100, "OPUS", 48000, Some(2))], &local).len(),
        1
    );
    assert!(negotiate_codecs(&[Codec::new(100, "opus", 16000, Some(2))], &local).is_empty());
    assert!(negotiate_codecs(&[Codec::new(100, "opus", 48000, Some(1))], &local).is_empty());
}

#[test]
fn absent_channels_mean_one_channel() {
    let out = negotiate_codecs(
        &[Codec::new(0, "PCMU", 8000, Some(1))],
        &[Codec::new(0, "PCMU", 8000, None)],
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn h264_with_another_profile_does_not_match() {
    let local = [h264(102, "packetization-mode=1;profile-level-id=42e01f")];
    let high = [h264(100, "packetization-mode=1;profile-level-id=64001f")];
    assert!(negotiate_codecs(&high, &local).is_empty());
}

#[test]
fn h264_with_another_packetization_mode_does_not_match() {
    let local = [h264(102, "packetization-mode=1;profile-level-id=42e01f")];
    let mode0 = [h264(104, "packetization-mode=0;profile-level-id=42e01f")];
    assert!(negotiate_codecs(&mode0, &local).is_empty());
}

#[test]
fn h264_profiles_follow_the_constraint_flags() {
    let p = |plid: &str| h264_profile(&h264(0, &format!("profile-level-id={plid}")));
    assert_eq!(p("42e01f"), Some(H264Profile::ConstrainedBaseline));
    assert_eq!(p("4de01f"), Some(H264Profile::ConstrainedBaseline));
    assert_eq!(p("42001f"), Some(H264Profile::Baseline));
    assert_eq!(p("4d001f"), Some(H264Profile::Main));
    assert_eq!(p("64001f"), Some(H264Profile::High));
    assert_eq!(p("640c1f"), Some(H264Profile::ConstrainedHigh));
    assert_eq!(p("zz"), None);
}

#[test]
fn h264_constrained_baseline_from_main_matches_from_baseline() {
    let local = [h264(102, "packetization-mode=1;profile-level-id=42e01f")];
    let offered = [h264(100, "packetization-mode=1;profile-level-id=4de01f")];
    assert_eq!(negotiate_codecs(&offered, &local).len(), 1);
}

#[test]
fn h264_level_is_the_answerers_when_both_allow_asymmetry() {
    let local = [h264(
        102,
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    )];
    let offered = [h264(
        100,
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e034",
    )];
    let out = negotiate_codecs(&offered, &local);
    assert_eq!(out[0].param("profile-level-id"), Some("42e01f"));
}

#[test]
fn h264_level_is_the_lower_one_without_asymmetry() {
    let local = [h264(102, "packetization-mode=1;profile-level-id=42e034")];
    let offered = [h264(100, "packetization-mode=1;profile-level-id=42e01f")];
    let out = negotiate_codecs(&offered, &local);
    assert_eq!(out[0].param("profile-level-id"), Some("42e01f"));
    let local = [h264(102, "packetization-mode=1;profile-level-id=42e00d")];
    let out = negotiate_codecs(&offered, &local);
    assert_eq!(out[0].param("profile-level-id"), Some("42e00d"));
}

#[test]
fn vp9_profile_ids_must_agree() {
    let local = [Codec::new(98, "VP9", 90000, None).with_fmtp("profile-id=0")];
    let p2 = [Codec::new(100, "VP9", 90000, None).with_fmtp("profile-id=2")];
    let p0_default = [Codec::new(101, "VP9", 90000, None)];
    assert!(negotiate_codecs(&p2, &local).is_empty());
    assert_eq!(negotiate_codecs(&p0_default, &local).len(), 1);
}

#[test]
fn rtx_is_kept_only_with_its_associated_codec() {
    let offered = [
        Codec::new(96, "VP8", 90000, None),
        Codec::rtx(97, 96, 90000),
        Codec::new(35, "XYZ", 90000, None),
        Codec::rtx(36, 35, 90000),
    ];
    let out = negotiate_codecs(&offered, &default_video_codecs());
    let pts: Vec<u8> = out.iter().map(|c| c.payload_type).collect();
    assert_eq!(pts, [96, 97]);
    assert_eq!(out[1].apt(), Some(96));
}

#[test]
fn rtx_is_dropped_when_the_answerer_has_no_rtx() {
    let offered = [
        Codec::new(96, "VP8", 90000, None),
        Codec::rtx(97, 96, 90000),
    ];
    let out = negotiate_codecs(&offered, &[Codec::new(100, "VP8", 90000, None)]);
    assert_eq!(out.len(), 1);
}

#[test]
fn rtcp_feedback_is_the_intersection() {
    let offered = [Codec::new(96, "VP8", 90000, None).with_feedback(&[
        ("nack", None),
        ("nack", Some("pli")),
        ("goog-lntf", None),
    ])];
    let local = [Codec::new(96, "VP8", 90000, None)
        .with_feedback(&[("nack", Some("pli")), ("ccm", Some("fir"))])];
    let out = negotiate_codecs(&offered, &local);
    assert_eq!(out[0].feedback, [RtcpFeedback::new("nack", Some("pli"))]);
}

#[test]
fn answer_keeps_the_offerers_codec_order() {
    let offered = [
        Codec::new(0, "PCMU", 8000, None),
        Codec::new(111, "opus", 48000, Some(2)),
    ];
    let local = [
        Codec::new(111, "opus", 48000, Some(2)),
        Codec::new(0, "PCMU", 8000, None),
    ];
    let pts: Vec<u8> = negotiate_codecs(&offered, &local)
        .iter()
        .map(|c| c.payload_type)
        .collect();
    assert_eq!(pts, [0, 111]);
}
