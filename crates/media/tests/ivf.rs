//! IVF writer → reader round trips, the header layout, malformed input.

use std::io::Cursor;

use ferrtc_media::ivf::{FourCc, IvfError, IvfFrame, IvfHeader, IvfReader, IvfWriter};
use proptest::prelude::*;

mod common;
use common::{Stalling, read_retrying};

fn frames() -> Vec<IvfFrame> {
    (0..5u64)
        .map(|i| IvfFrame {
            pts: i * 3000,
            data: vec![i as u8; 10 + i as usize * 100],
        })
        .collect()
}

fn write(header: IvfHeader, frames: &[IvfFrame]) -> Vec<u8> {
    let mut w = IvfWriter::new(Vec::new(), header).unwrap();
    for f in frames {
        w.write_frame(f.pts, &f.data).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn header_layout_is_the_libvpx_one() {
    let mut h = IvfHeader::new(FourCc::VP90, 640, 480, 90_000, 1);
    h.frame_count = 7;
    let b = h.to_bytes();
    assert_eq!(&b[0..4], b"DKIF");
    assert_eq!(&b[4..8], &[0, 0, 32, 0]);
    assert_eq!(&b[8..12], b"VP90");
    assert_eq!(&b[12..16], &[0x80, 0x02, 0xe0, 0x01]);
    assert_eq!(&b[16..20], &90_000u32.to_le_bytes());
    assert_eq!(&b[20..24], &1u32.to_le_bytes());
    assert_eq!(&b[24..28], &7u32.to_le_bytes());
    assert_eq!(IvfHeader::parse(&b).unwrap(), (h, 32));
}

#[test]
fn round_trip_keeps_frames_and_header() {
    let header = IvfHeader::new(FourCc::AV01, 1280, 720, 90_000, 1);
    let bytes = write(header, &frames());
    assert_eq!(
        bytes.len(),
        32 + frames().iter().map(|f| 12 + f.data.len()).sum::<usize>()
    );
    let mut r = IvfReader::new(&bytes[..]).unwrap();
    assert_eq!(*r.header(), header);
    let read: Vec<_> = r.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(read, frames());
    assert_eq!(r.frames_read(), 5);
    // Frame header: size then 64-bit pts, little-endian.
    assert_eq!(&bytes[32..36], &10u32.to_le_bytes());
    assert_eq!(&bytes[36..44], &0u64.to_le_bytes());
}

#[test]
fn finish_seekable_fixes_the_frame_count_and_finish_does_not() {
    let header = IvfHeader::new(FourCc::VP80, 176, 144, 30, 1);
    let mut w = IvfWriter::new(Cursor::new(Vec::new()), header).unwrap();
    for f in frames() {
        w.write_frame(f.pts, &f.data).unwrap();
    }
    let bytes = w.finish_seekable().unwrap().into_inner();
    let r = IvfReader::new(&bytes[..]).unwrap();
    assert_eq!(r.header().frame_count, 5);
    assert_eq!(r.count(), 5);

    let bytes = write(header, &frames());
    assert_eq!(IvfReader::new(&bytes[..]).unwrap().header().frame_count, 0);
}

#[test]
fn pts_converts_with_the_timebase() {
    let h = IvfHeader::new(FourCc::VP80, 1, 1, 30, 1);
    assert_eq!(
        h.pts_to_duration(45),
        Some(std::time::Duration::from_millis(1500))
    );
    let h = IvfHeader::new(FourCc::VP80, 1, 1, 0, 1);
    assert_eq!(h.pts_to_duration(45), None);
}

#[test]
fn malformed_headers_are_errors() {
    let good = write(IvfHeader::new(FourCc::VP80, 2, 2, 30, 1), &frames());
    for cut in 0..32 {
        assert!(
            matches!(
                IvfReader::new(&good[..cut]),
                Err(IvfError::TruncatedHeader { got }) if got == cut
            ),
            "cut at {cut}"
        );
    }
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(
        IvfReader::new(&bad[..]),
        Err(IvfError::BadSignature { .. })
    ));
    let mut bad = good.clone();
    bad[4] = 1;
    assert!(matches!(
        IvfReader::new(&bad[..]),
        Err(IvfError::UnsupportedVersion(1))
    ));
    let mut bad = good.clone();
    bad[6] = 16;
    assert!(matches!(
        IvfReader::new(&bad[..]),
        Err(IvfError::BadHeaderSize(16))
    ));
}

#[test]
fn a_longer_header_is_skipped() {
    let good = write(IvfHeader::new(FourCc::VP80, 2, 2, 30, 1), &frames());
    let mut long = good[..32].to_vec();
    long[6] = 40;
    long.extend_from_slice(&[0xee; 8]);
    long.extend_from_slice(&good[32..]);
    let read: Vec<_> = IvfReader::new(&long[..])
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read, frames());
    assert!(matches!(
        IvfReader::new(&long[..36]),
        Err(IvfError::TruncatedHeader { got: 36 })
    ));
}

#[test]
fn truncated_frames_are_errors_with_the_frame_index() {
    let good = write(IvfHeader::new(FourCc::VP80, 2, 2, 30, 1), &frames());
    // Cut inside the second frame's header, then inside its data.
    let second = 32 + 12 + 10;
    let mut r = IvfReader::new(&good[..second + 5]).unwrap();
    assert!(r.next_frame().unwrap().is_some());
    let e = r.next_frame().unwrap_err();
    assert!(
        matches!(
            e,
            IvfError::TruncatedFrame {
                frame: 1,
                what: "frame header",
                got: 5,
                ..
            }
        ),
        "{e}"
    );
    let mut r = IvfReader::new(&good[..second + 12 + 3]).unwrap();
    r.next_frame().unwrap();
    let e = r.next_frame().unwrap_err();
    assert!(
        matches!(
            e,
            IvfError::TruncatedFrame {
                frame: 1,
                what: "frame data",
                expected: 110,
                got: 3
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("frame 1"));
}

#[test]
fn keyframes_are_told_by_the_fourcc() {
    assert!(FourCc::VP80.is_keyframe(&[0x10, 0, 0]));
    assert!(!FourCc::VP80.is_keyframe(&[0x11, 0, 0]));
    assert!(!FourCc::VP80.is_keyframe(&[]));
    // VP9: marker 10, profile 0, show_existing_frame 0, frame_type 0/1.
    assert!(FourCc::VP90.is_keyframe(&[0b1000_0000]));
    assert!(!FourCc::VP90.is_keyframe(&[0b1000_0100]));
    assert!(
        !FourCc::VP90.is_keyframe(&[0b1000_1000]),
        "show_existing_frame"
    );
    // Profile 3 has a reserved bit before show_existing_frame.
    assert!(FourCc::VP90.is_keyframe(&[0b1011_0000]));
    assert!(!FourCc::VP90.is_keyframe(&[0b1011_0010]));
    assert!(!FourCc::VP90.is_keyframe(&[0b0000_0000]), "no frame marker");
    // AV1: a temporal delimiter (type 2, size 0) then a sequence header
    // (type 1); without the sequence header, a frame OBU (type 6) only.
    assert!(FourCc::AV01.is_keyframe(&[0x12, 0x00, 0x0a, 0x01, 0x00]));
    assert!(!FourCc::AV01.is_keyframe(&[0x12, 0x00, 0x32, 0x01, 0x00]));
    assert!(
        !FourCc::AV01.is_keyframe(&[0x12, 0x05]),
        "size past the end"
    );
    assert!(!FourCc(*b"XXXX").is_keyframe(&[0]));
}

#[test]
fn oversized_frames_are_refused_before_reading_them() {
    let mut bytes = IvfHeader::new(FourCc::VP80, 2, 2, 30, 1)
        .to_bytes()
        .to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    let mut r = IvfReader::new(&bytes[..]).unwrap();
    assert!(matches!(
        r.next_frame(),
        Err(IvfError::FrameTooLarge {
            frame: 0,
            size: u32::MAX,
            limit: 16_777_216
        })
    ));

    let bytes = write(IvfHeader::new(FourCc::VP80, 2, 2, 30, 1), &frames());
    let mut r = IvfReader::with_max_frame_size(&bytes[..], 100).unwrap();
    assert!(r.next_frame().unwrap().is_some());
    assert!(matches!(
        r.next_frame(),
        Err(IvfError::FrameTooLarge {
            frame: 1,
            size: 110,
            limit: 100
        })
    ));

    let mut w = IvfWriter::new(Vec::new(), IvfHeader::new(FourCc::VP80, 2, 2, 30, 1)).unwrap();
    w.set_max_frame_size(4);
    assert!(matches!(
        w.write_frame(0, b"12345"),
        Err(IvfError::FrameTooLargeToWrite { size: 5, limit: 4 })
    ));
}

proptest! {
    #[test]
    fn any_frames_round_trip(
        frames in proptest::collection::vec((any::<u64>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20)
    ) {
        let frames: Vec<_> = frames.into_iter().map(|(pts, data)| IvfFrame { pts, data }).collect();
        let bytes = write(IvfHeader::new(FourCc::VP90, 3, 4, 1000, 1), &frames);
        let read: Vec<_> = IvfReader::new(&bytes[..]).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read, frames);
    }

    #[test]
    fn any_bytes_after_a_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = IvfHeader::new(FourCc::VP80, 2, 2, 30, 1).to_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        for f in IvfReader::with_max_frame_size(&bytes[..], 64).unwrap() {
            if f.is_err() { break; }
        }
    }
}

/// A `WouldBlock` from the input inside a frame header or a frame is an
/// error the caller may retry: the bytes read before it are kept, and the
/// next call goes on with the same frames as input that never blocks gives.
#[test]
fn reading_resumes_after_would_block() {
    let header = IvfHeader::new(FourCc::VP80, 176, 144, 30, 1);
    let bytes = write(header, &frames());
    for piece in [1, 5, 13, 64] {
        // The 32-byte file header reads whole: `IvfReader::new` reads it.
        let input = Stalling::new(bytes.clone(), piece).after(32);
        let mut r = IvfReader::new(input).unwrap();
        let would_block = |e: &IvfError| matches!(e, IvfError::Io { source, .. } if source.kind() == std::io::ErrorKind::WouldBlock);
        let (read, blocked) = read_retrying(|| r.next_frame(), would_block, bytes.len(), piece);
        assert!(blocked > 0);
        assert_eq!(read, frames(), "piece {piece}");
        assert_eq!(r.frames_read(), 5);
    }
}
