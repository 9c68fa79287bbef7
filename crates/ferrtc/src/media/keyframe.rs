//! Which written frames are keyframes, told from the frame's first bytes
//! by the codec that sends it (counted in `keyFramesEncoded`).

/// The codec a sender's frames are encoded with, as far as telling its
/// keyframes goes; resolved from the rtpmap name once per negotiation, not
/// per written frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FrameCodec {
    Vp8,
    Vp9,
    H264,
    Av1,
    /// Audio, or a codec whose keyframes are not told (none is counted).
    #[default]
    Other,
}

impl FrameCodec {
    /// The codec of rtpmap name `name` (case-insensitive).
    pub(crate) fn of(name: &str) -> Self {
        [
            ("VP8", FrameCodec::Vp8),
            ("VP9", FrameCodec::Vp9),
            ("H264", FrameCodec::H264),
            ("AV1", FrameCodec::Av1),
        ]
        .into_iter()
        .find_map(|(n, c)| name.eq_ignore_ascii_case(n).then_some(c))
        .unwrap_or(FrameCodec::Other)
    }

    /// Whether `frame` is a keyframe. Audio frames never are.
    pub(crate) fn is_keyframe(self, frame: &[u8]) -> bool {
        match self {
            // RFC 6386 §9.1: bit 0 of the frame tag is 0 for a key frame.
            FrameCodec::Vp8 => frame.first().is_some_and(|b| b & 1 == 0),
            FrameCodec::Vp9 => vp9_keyframe(frame),
            FrameCodec::H264 => ferrtc_media::h264::split_nal_units(frame)
                .into_iter()
                .any(|nal| ferrtc_media::h264::nal_type(nal) == Some(ferrtc_media::h264::NAL_IDR)),
            FrameCodec::Av1 => av1_has_sequence_header(frame),
            FrameCodec::Other => false,
        }
    }
}

/// VP9 uncompressed header (VP9 bitstream §6.2): frame_marker (2 bits),
/// profile (2 bits, then a reserved bit for profile 3),
/// show_existing_frame, frame_type (0: key frame).
fn vp9_keyframe(frame: &[u8]) -> bool {
    let Some(&b) = frame.first() else {
        return false;
    };
    if b >> 6 != 0b10 {
        return false;
    }
    let profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1);
    let mut bit = 3; // bits consumed, from the top
    if profile == 3 {
        bit += 1;
    }
    let at = |n: u32| (b >> (7 - n)) & 1;
    if at(bit + 1) == 1 {
        return false; // show_existing_frame
    }
    at(bit + 2) == 0
}

/// Whether an AV1 temporal unit (OBUs with size fields) holds a sequence
/// header OBU, which starts every keyframe a receiver can join at.
fn av1_has_sequence_header(mut data: &[u8]) -> bool {
    while let Some(&header) = data.first() {
        let obu_type = (header >> 3) & 0x0f;
        if obu_type == 1 {
            return true;
        }
        let extension = header & 0b100 != 0;
        let has_size = header & 0b10 != 0;
        let mut at = 1 + usize::from(extension);
        if !has_size {
            return false;
        }
        let mut size: usize = 0;
        let mut shift = 0;
        loop {
            let Some(&b) = data.get(at) else {
                return false;
            };
            at += 1;
            size |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return false;
            }
        }
        let Some(rest) = at.checked_add(size).and_then(|end| data.get(end..)) else {
            return false;
        };
        data = rest;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_keyframe(codec: &str, frame: &[u8]) -> bool {
        FrameCodec::of(codec).is_keyframe(frame)
    }

    #[test]
    fn keyframes_by_codec() {
        assert!(is_keyframe("VP8", &[0x10, 0, 0]));
        assert!(!is_keyframe("vp8", &[0x11, 0, 0]));
        // VP9 profile 0: marker 10, profile 00, show_existing 0, type 0.
        assert!(is_keyframe("VP9", &[0b1000_0000]));
        assert!(!is_keyframe("VP9", &[0b1000_0100]));
        let idr = [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x65, 0x88];
        assert!(is_keyframe("H264", &idr));
        assert!(!is_keyframe("H264", &[0, 0, 0, 1, 0x41, 0x9a]));
        // A temporal delimiter (type 2, size 0) then a sequence header.
        assert!(is_keyframe("AV1", &[0x12, 0x00, 0x0a, 0x01, 0x00]));
        assert!(!is_keyframe("AV1", &[0x12, 0x00, 0x32, 0x01, 0x00]));
        assert!(!is_keyframe("opus", &[0]));
        assert!(!is_keyframe("VP8", &[]));
    }
}
