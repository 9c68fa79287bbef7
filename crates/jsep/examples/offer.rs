//! Prints an offer with audio, video (three simulcast rids) and data:
//! `cargo run --example offer`.

use ferrtc_jsep::{IceCredentials, Jsep, JsepConfig, OfferOptions, SendEncoding, TransceiverInit};
use ferrtc_sdp::{Direction, Fingerprint, HashFunction, MediaKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut jsep = Jsep::new(JsepConfig::new(
        1,
        IceCredentials::new("ufrg", "passwordpasswordpassword"),
        vec![Fingerprint::from_digest(HashFunction::Sha256, &[0xab; 32])],
    ));
    let mut audio = TransceiverInit::new(MediaKind::Audio, Direction::SendRecv);
    audio.track_id = Some("mic".into());
    audio.stream_ids = vec!["s".into()];
    audio.ssrc = Some(1234);
    jsep.add_transceiver(audio);
    let mut video = TransceiverInit::new(MediaKind::Video, Direction::SendOnly);
    video.send_encodings = ["q", "h", "f"]
        .map(|rid| SendEncoding { rid: rid.into() })
        .to_vec();
    jsep.add_transceiver(video);
    jsep.request_data_channel();
    print!("{}", jsep.create_offer(OfferOptions::default())?.sdp);
    Ok(())
}
