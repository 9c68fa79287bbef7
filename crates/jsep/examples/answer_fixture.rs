//! Prints this crate's answer to an SDP offer file: `cargo run --example answer_fixture -- FILE`.

use ferrtc_jsep::{AnswerOptions, IceCredentials, Jsep, JsepConfig, SessionDescription};
use ferrtc_sdp::{Fingerprint, HashFunction};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: answer_fixture FILE")?;
    let offer = std::fs::read_to_string(path)?;
    let mut jsep = Jsep::new(JsepConfig::new(
        1,
        IceCredentials::new("ufrg", "passwordpasswordpassword"),
        vec![Fingerprint::from_digest(HashFunction::Sha256, &[0xab; 32])],
    ));
    jsep.set_remote_description(SessionDescription::offer(offer))?;
    let answer = jsep.create_answer(AnswerOptions::default())?;
    print!("{}", answer.sdp);
    Ok(())
}
