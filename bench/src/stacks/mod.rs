//! One module per stack; each runs a [`Workload`] and returns a [`Sample`].

pub mod common;
pub mod ferrtc;
pub mod rustrtc;
pub mod str0m;
pub mod webrtc_rs;
pub mod webrtc_rs17;

use crate::workload::{Sample, Workload};

/// Stack names, in table order.
pub const STACKS: &[&str] = &["ferrtc", "str0m", "webrtc-rs 0.17", "webrtc-rs", "rustrtc"];

/// Runs `w` on `stack`; an error becomes a [`Sample`] with `error` set.
/// The media path ([`Workload::Rtp`]) goes to [`crate::rtp`].
pub fn run(stack: &str, w: Workload) -> Sample {
    let result = match w {
        Workload::Rtp { frames, frame_size } => crate::rtp::run(stack, frames, frame_size),
        Workload::Forward { receivers, secs } => crate::forward::run(stack, receivers, secs),
        _ => run_data(stack, w),
    };
    result.unwrap_or_else(|e| Sample {
        stack: stack.to_string(),
        version: match stack {
            "webrtc-rs 0.17" => webrtc_rs17::VERSION.to_string(),
            "webrtc-rs" => crate::crate_version("webrtc"),
            _ if matches!(w, Workload::Rtp { .. }) => crate::rtp::version(stack),
            _ if matches!(w, Workload::Forward { .. }) => crate::forward::version(stack),
            other => crate::crate_version(other),
        },
        peak_rss_mib: crate::proc::peak_rss_mib(),
        error: Some(e),
        ..Default::default()
    })
}

/// What a stack module answers when asked for the media path, which
/// [`run`] hands to [`crate::rtp`] instead.
pub const RTP_ELSEWHERE: &str = "the media workloads run in src/rtp and src/forward";

/// Runs a data-channel workload on `stack`.
fn run_data(stack: &str, w: Workload) -> Result<Sample, String> {
    match stack {
        "ferrtc" => ferrtc::run(w),
        "str0m" => str0m::run(w),
        "webrtc-rs 0.17" => webrtc_rs17::run(w),
        "webrtc-rs" => webrtc_rs::run(w),
        "rustrtc" => rustrtc::run(w),
        other => Err(format!("unknown stack {other:?}")),
    }
}
