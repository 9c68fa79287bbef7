//! Ogg pages and CRC (RFC 3533), Opus in Ogg (RFC 7845), Opus TOC
//! durations (RFC 6716 §3.1).

use ferrtc_media::ogg::{
    FLAG_BOS, FLAG_CONTINUED, NO_GRANULE, OggError, PacketReader, PacketWriter, Page, PageReader,
    crc32,
};
use ferrtc_media::opus::{
    self, Bandwidth, Mode, OpusError, OpusHead, OpusReader, OpusTags, OpusWriter, Toc,
};
use proptest::prelude::*;

mod common;
use common::{Stalling, read_retrying};

/// Bit-by-bit reference of the Ogg CRC (RFC 3533 §6): polynomial
/// 0x04c11db7, MSB first, initial value 0, no final XOR.
fn reference_crc(data: &[u8]) -> u32 {
    let mut c = 0u32;
    for &b in data {
        c ^= u32::from(b) << 24;
        for _ in 0..8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04c1_1db7
            } else {
                c << 1
            };
        }
    }
    c
}

/// The first page of an Ogg Opus file written by FFmpeg's Ogg muxer
/// (libavformat 58.45): OpusHead, stereo, pre-skip 312, 48 kHz.
const FFMPEG_OPUSHEAD_PAGE: [u8; 47] = [
    0x4f, 0x67, 0x67, 0x53, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0xe6,
    0x2c, 0xd1, 0x00, 0x00, 0x00, 0x00, 0x5c, 0x6c, 0xce, 0x97, 0x01, 0x13, 0x4f, 0x70, 0x75, 0x73,
    0x48, 0x65, 0x61, 0x64, 0x01, 0x02, 0x38, 0x01, 0x80, 0xbb, 0x00, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn crc_matches_known_vectors() {
    // The catalogue's CRC-32/CKSUM (same polynomial, init 0, no
    // reflection) checks "123456789" to 0x765e7680 after its final XOR.
    assert_eq!(crc32(b"123456789"), 0x765e_7680 ^ 0xffff_ffff);
    assert_eq!(reference_crc(b"123456789"), 0x89a1_897f);
    assert_eq!(crc32(b"OggS"), 0x5fb0_a94f);
    assert_eq!(reference_crc(b"OggS"), 0x5fb0_a94f);
    assert_eq!(crc32(b""), 0);
    let data: Vec<u8> = (0..=255).collect();
    assert_eq!(crc32(&data), reference_crc(&data));
}

#[test]
fn a_page_written_by_ffmpeg_reads_and_writes_back() {
    // Its CRC field is 0x97ce6c5c; recompute it with the field zeroed.
    let mut zeroed = FFMPEG_OPUSHEAD_PAGE;
    zeroed[22..26].fill(0);
    assert_eq!(reference_crc(&zeroed), 0x97ce_6c5c);

    let page = PageReader::new(&FFMPEG_OPUSHEAD_PAGE[..])
        .next_page()
        .unwrap()
        .unwrap();
    assert!(page.is_bos() && !page.is_eos() && !page.is_continued());
    assert_eq!(page.serial, 0xd12c_e62c);
    assert_eq!((page.sequence, page.granule_position), (0, 0));
    assert_eq!(page.segments, [19]);
    assert_eq!(page.to_bytes().unwrap(), FFMPEG_OPUSHEAD_PAGE);
    let head = OpusHead::parse(&page.body).unwrap();
    assert_eq!(
        (head.channels, head.pre_skip, head.input_sample_rate),
        (2, 312, 48_000)
    );
    assert_eq!(head.to_bytes(), page.body);
}

#[test]
fn bad_crc_is_an_error_with_the_page_number() {
    let mut bytes = Vec::new();
    let mut w = PacketWriter::new(&mut bytes, 9);
    w.set_target_page_size(1);
    for i in 0..3u8 {
        w.write_packet(&[i; 10], u64::from(i)).unwrap();
    }
    w.finish(3).unwrap();
    // Three pages of 28 + 10 bytes, then an empty EOS page; flip a body byte of page 2.
    bytes[2 * 38 + 30] ^= 1;
    let mut r = PageReader::new(&bytes[..]);
    r.next_page().unwrap();
    r.next_page().unwrap();
    let e = r.next_page().unwrap_err();
    assert!(matches!(e, OggError::BadCrc { page: 2, .. }), "{e}");
    assert!(e.to_string().contains("page 2"));
}

#[test]
fn truncated_and_garbled_pages_are_errors() {
    let page = Page {
        header_type: FLAG_BOS,
        granule_position: 0,
        serial: 1,
        sequence: 0,
        segments: vec![5],
        body: b"hello".to_vec(),
    };
    let bytes = page.to_bytes().unwrap();
    assert!(PageReader::new(&bytes[..0]).next_page().unwrap().is_none());
    for cut in 1..bytes.len() {
        let e = PageReader::new(&bytes[..cut]).next_page().unwrap_err();
        assert!(
            matches!(e, OggError::Truncated { page: 0, .. }),
            "cut {cut}: {e}"
        );
    }
    let mut bad = bytes.clone();
    bad[1] = b'x';
    assert!(matches!(
        PageReader::new(&bad[..]).next_page(),
        Err(OggError::BadCapturePattern { page: 0, .. })
    ));
    let mut bad = bytes.clone();
    bad[4] = 1;
    assert!(matches!(
        PageReader::new(&bad[..]).next_page(),
        Err(OggError::UnsupportedVersion { version: 1, .. })
    ));
    let bad_page = Page {
        segments: vec![4],
        ..page
    };
    assert!(matches!(bad_page.to_bytes(), Err(OggError::BadPage(_))));
}

#[test]
fn big_packets_span_pages_with_the_continued_flag() {
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    let mut bytes = Vec::new();
    let mut w = PacketWriter::new(&mut bytes, 77);
    w.write_packet(b"first", 1).unwrap();
    w.write_packet(&big, 2).unwrap();
    // A packet of exactly 255 bytes needs a 0 lacing value after it.
    w.write_packet(&[7; 255], 3).unwrap();
    w.write_packet(b"", 4).unwrap();
    w.finish(4).unwrap();

    let mut pages = PageReader::new(&bytes[..]);
    let mut all = Vec::new();
    while let Some(p) = pages.next_page().unwrap() {
        assert!(p.segments.len() <= 255);
        all.push(p);
    }
    assert!(all.len() >= 2);
    assert!(all[0].is_bos() && !all[0].is_continued());
    assert!(all[1].is_continued());
    // The first page finishes only "first": its granule is 1.
    assert_eq!(all[0].granule_position, 1);
    assert!(all.last().unwrap().is_eos());
    assert!(all.iter().skip(1).all(|p| !p.is_bos()));
    for (i, p) in all.iter().enumerate() {
        assert_eq!(p.sequence, i as u32);
    }

    let mut r = PacketReader::new(&bytes[..]);
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(
        (p.data.as_slice(), p.granule_position),
        (&b"first"[..], Some(1))
    );
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.data, big);
    assert_eq!(r.next_packet().unwrap().unwrap().data, vec![7; 255]);
    let last = r.next_packet().unwrap().unwrap();
    assert!(last.data.is_empty() && last.eos);
    assert_eq!(last.granule_position, Some(4));
    assert!(r.next_packet().unwrap().is_none());
    assert_eq!(r.serial(), Some(77));
}

#[test]
fn a_page_where_no_packet_ends_has_granule_minus_one() {
    let mut bytes = Vec::new();
    let mut w = PacketWriter::new(&mut bytes, 1);
    w.write_packet(&vec![1; 255 * 300], 5).unwrap();
    w.finish(5).unwrap();
    let first = PageReader::new(&bytes[..]).next_page().unwrap().unwrap();
    assert_eq!(first.granule_position, NO_GRANULE);
    assert_eq!(first.segments.len(), 255);
}

#[test]
fn lost_pages_and_missing_bos_are_errors() {
    let mut bytes = Vec::new();
    let mut w = PacketWriter::new(&mut bytes, 1);
    w.set_target_page_size(1);
    for i in 0..3u8 {
        w.write_packet(&[i; 4], u64::from(i)).unwrap();
    }
    w.finish(3).unwrap();
    let page_len = 27 + 1 + 4;
    // Drop the second page.
    let mut lost = bytes[..page_len].to_vec();
    lost.extend_from_slice(&bytes[2 * page_len..]);
    let mut r = PacketReader::new(&lost[..]);
    r.next_packet().unwrap();
    assert!(matches!(
        r.next_packet(),
        Err(OggError::BadStream { page: 1, .. })
    ));
    // Start at the second page: not BOS.
    let mut r = PacketReader::new(&bytes[page_len..]);
    assert!(matches!(
        r.next_packet(),
        Err(OggError::BadStream { page: 0, .. })
    ));
}

#[test]
fn toc_frame_sizes_follow_rfc6716_table_2() {
    // (configs, mode, samples per frame at 48 kHz)
    let ms = |x: f64| (x * 48.0) as u32;
    let mut expected = Vec::new();
    for group in 0..3 {
        for (i, d) in [10.0, 20.0, 40.0, 60.0].into_iter().enumerate() {
            expected.push((group * 4 + i, Mode::Silk, ms(d)));
        }
    }
    for group in 0..2 {
        for (i, d) in [10.0, 20.0].into_iter().enumerate() {
            expected.push((12 + group * 2 + i, Mode::Hybrid, ms(d)));
        }
    }
    for group in 0..4 {
        for (i, d) in [2.5, 5.0, 10.0, 20.0].into_iter().enumerate() {
            expected.push((16 + group * 4 + i, Mode::Celt, ms(d)));
        }
    }
    assert_eq!(expected.len(), 32);
    for (config, mode, samples) in expected {
        let toc = Toc((config as u8) << 3);
        assert_eq!(toc.config() as usize, config);
        assert_eq!(toc.mode(), mode, "config {config}");
        assert_eq!(toc.frame_samples(), samples, "config {config}");
        assert_eq!(opus::packet_samples(&[toc.0]).unwrap(), samples);
    }
    assert_eq!(Toc(0 << 3).bandwidth(), Bandwidth::Narrowband);
    assert_eq!(Toc(5 << 3).bandwidth(), Bandwidth::Mediumband);
    assert_eq!(Toc(9 << 3).bandwidth(), Bandwidth::Wideband);
    assert_eq!(Toc(13 << 3).bandwidth(), Bandwidth::SuperWideband);
    assert_eq!(Toc(14 << 3).bandwidth(), Bandwidth::Fullband);
    assert_eq!(Toc(17 << 3).bandwidth(), Bandwidth::Narrowband);
    assert_eq!(Toc(21 << 3).bandwidth(), Bandwidth::Wideband);
    assert_eq!(Toc(26 << 3).bandwidth(), Bandwidth::SuperWideband);
    assert_eq!(Toc(31 << 3).bandwidth(), Bandwidth::Fullband);
    assert!(Toc(0x04).stereo() && !Toc(0x00).stereo());
}

#[test]
fn toc_frame_counts_per_code() {
    let c31 = 31 << 3; // CELT FB 20 ms
    assert_eq!(opus::frame_count(&[c31]).unwrap(), 1);
    assert_eq!(opus::frame_count(&[c31 | 1, 0, 0]).unwrap(), 2);
    assert_eq!(opus::frame_count(&[c31 | 2, 1, 0]).unwrap(), 2);
    assert_eq!(opus::packet_samples(&[c31 | 1]).unwrap(), 1920);
    // Code 3: M in the low 6 bits of the second byte (v and p bits ignored).
    assert_eq!(opus::frame_count(&[c31 | 3, 0xc0 | 6]).unwrap(), 6);
    assert_eq!(opus::packet_samples(&[c31 | 3, 6]).unwrap(), 5760);
    // 48 frames of 2.5 ms = 120 ms, the most allowed.
    assert_eq!(opus::packet_samples(&[(16 << 3) | 3, 48]).unwrap(), 5760);
    assert!(matches!(
        opus::packet_samples(&[c31 | 3, 7]),
        Err(OpusError::TooLong { samples: 6720 })
    ));
    // SILK 60 ms in code 1: 120 ms; in code 3 with 3 frames: 180 ms.
    assert_eq!(opus::packet_samples(&[(3 << 3) | 1]).unwrap(), 5760);
    assert!(opus::packet_samples(&[(3 << 3) | 3, 3]).is_err());
    assert!(matches!(
        opus::packet_samples(&[c31 | 3]),
        Err(OpusError::MissingFrameCount)
    ));
    assert!(matches!(
        opus::packet_samples(&[c31 | 3, 0]),
        Err(OpusError::ZeroFrames)
    ));
    assert!(matches!(
        opus::packet_samples(&[]),
        Err(OpusError::EmptyPacket)
    ));
}

fn packets() -> Vec<Vec<u8>> {
    // 20 ms CELT FB packets, with a 40 ms code 1 packet and a 10 ms SILK one.
    let mut v: Vec<Vec<u8>> = (0..200u32)
        .map(|i| vec![31 << 3, (i % 251) as u8, 1, 2, 3])
        .collect();
    v[10] = vec![(31 << 3) | 1, 9, 9];
    v[11] = vec![8 << 3, 1];
    v
}

#[test]
fn opus_round_trip_with_granules_and_durations() {
    let head = OpusHead::new(2, 48_000);
    let tags = OpusTags {
        vendor: "ferrtc".into(),
        comments: vec!["TITLE=test".into()],
    };
    let mut w = OpusWriter::new(Vec::new(), 0x1234, &head, &tags).unwrap();
    w.set_target_page_size(200);
    for p in packets() {
        w.write_packet(&p).unwrap();
    }
    let total: u64 = 198 * 960 + 1920 + 480;
    // Granules count the pre-skip samples too (RFC 7845 §4): no offset.
    assert_eq!(w.granule_position(), total);
    let bytes = w.finish().unwrap();

    // Headers alone on the first two pages (RFC 7845 §3), EOS on the last.
    let mut pages = PageReader::new(&bytes[..]);
    let mut all = Vec::new();
    while let Some(p) = pages.next_page().unwrap() {
        all.push(p);
    }
    assert_eq!(all[0].header_type, FLAG_BOS);
    assert_eq!(all[0].segments.len(), 1);
    assert_eq!(all[1].header_type & (FLAG_BOS | FLAG_CONTINUED), 0);
    assert_eq!((all[0].granule_position, all[1].granule_position), (0, 0));
    assert!(all.last().unwrap().is_eos());
    assert_eq!(all.last().unwrap().granule_position, total);
    assert!(all.len() > 4, "pages of about 200 bytes");
    assert!(all.iter().all(|p| p.body.len() < 400));

    let mut r = OpusReader::new(&bytes[..]).unwrap();
    assert_eq!(*r.head(), head);
    assert_eq!(*r.tags(), tags);
    let read: Vec<_> = r.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        read.iter().map(|p| p.data.clone()).collect::<Vec<_>>(),
        packets()
    );
    assert_eq!(read[0].samples, 960);
    assert_eq!(read[10].samples, 1920);
    assert_eq!(read[11].samples, 480);
    assert_eq!(read[11].pts, 10 * 960 + 1920);
    assert_eq!(read[0].duration(), std::time::Duration::from_millis(20));
    // Where a granule is given, it is the samples decoded so far.
    let mut with_granule = 0;
    for p in &read {
        if let Some(g) = p.granule_position {
            assert_eq!(g, p.pts + u64::from(p.samples));
            with_granule += 1;
        }
    }
    assert!(with_granule >= 4);
}

#[test]
fn opus_errors_name_what_is_wrong() {
    // Not Opus: an Ogg stream whose first packet is something else.
    let mut bytes = Vec::new();
    let mut w = PacketWriter::new(&mut bytes, 1);
    w.write_packet(b"\x01vorbis", 0).unwrap();
    w.finish(0).unwrap();
    assert!(matches!(
        OpusReader::new(&bytes[..]),
        Err(OpusError::BadHead(_))
    ));
    // Headers only, no tags.
    let mut bytes = Vec::new();
    let mut w = PacketWriter::new(&mut bytes, 1);
    w.write_packet(&OpusHead::new(1, 0).to_bytes(), 0).unwrap();
    w.finish(0).unwrap();
    assert!(matches!(
        OpusReader::new(&bytes[..]),
        Err(OpusError::MissingHeader("OpusTags"))
    ));
    // An empty audio packet.
    let mut bytes = Vec::new();
    let mut w = PacketWriter::new(&mut bytes, 1);
    w.write_packet(&OpusHead::new(1, 0).to_bytes(), 0).unwrap();
    w.flush_page().unwrap();
    w.write_packet(&OpusTags::default().to_bytes(), 0).unwrap();
    w.flush_page().unwrap();
    w.write_packet(&[31 << 3], 960).unwrap();
    w.write_packet(&[], 960).unwrap();
    w.finish(960).unwrap();
    let mut r = OpusReader::new(&bytes[..]).unwrap();
    assert!(r.next_packet().unwrap().is_some());
    let e = r.next_packet().unwrap_err();
    assert!(
        matches!(
            e,
            OpusError::BadPacket {
                index: 1,
                page: 2,
                ..
            }
        ),
        "{e}"
    );
    // The writer refuses what it cannot time.
    let mut w = OpusWriter::new(Vec::new(), 1, &OpusHead::new(1, 0), &OpusTags::default()).unwrap();
    assert!(w.write_packet(&[]).is_err());
}

#[test]
fn opus_head_and_tags_reject_malformed_headers() {
    let good = OpusHead::new(2, 48_000).to_bytes();
    for cut in 0..good.len() {
        assert!(OpusHead::parse(&good[..cut]).is_err());
    }
    let mut bad = good.clone();
    bad[8] = 0x10;
    assert!(OpusHead::parse(&bad).is_err());
    let mut bad = good.clone();
    bad[9] = 3;
    assert!(OpusHead::parse(&bad).is_err());
    let mut six = good.clone();
    six[9] = 6;
    six[18] = 1;
    assert!(OpusHead::parse(&six).is_err());
    six.extend_from_slice(&[4, 2, 0, 4, 1, 2, 3, 5]);
    let head = OpusHead::parse(&six).unwrap();
    assert_eq!(head.mapping.as_ref().unwrap().table, [0, 4, 1, 2, 3, 5]);
    assert_eq!(head.to_bytes(), six);

    let tags = OpusTags {
        vendor: "v".into(),
        comments: vec!["A=b".into(), "C=d".into()],
    }
    .to_bytes();
    for cut in 0..tags.len() {
        assert!(OpusTags::parse(&tags[..cut]).is_err(), "cut {cut}");
    }
    let mut huge = b"OpusTags\0\0\0\0".to_vec();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(OpusTags::parse(&huge).is_err());
}

proptest! {
    #[test]
    fn any_packets_round_trip_through_ogg(
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1000), 1..30),
        target in 1usize..5000,
    ) {
        let mut bytes = Vec::new();
        let mut w = PacketWriter::new(&mut bytes, 5);
        w.set_target_page_size(target);
        for (i, p) in packets.iter().enumerate() {
            w.write_packet(p, i as u64).unwrap();
        }
        w.finish(packets.len() as u64).unwrap();
        let mut r = PacketReader::new(&bytes[..]);
        let mut read = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            read.push(p.data);
        }
        prop_assert_eq!(read, packets);
    }

    #[test]
    fn any_flipped_byte_is_caught(pos in 0usize..400, bit in 0u8..8) {
        let mut bytes = Vec::new();
        let mut w = PacketWriter::new(&mut bytes, 5);
        w.set_target_page_size(50);
        for i in 0..8u8 {
            w.write_packet(&[i; 40], u64::from(i)).unwrap();
        }
        w.finish(8).unwrap();
        let pos = pos % bytes.len();
        bytes[pos] ^= 1 << bit;
        let mut r = PacketReader::new(&bytes[..]);
        let mut failed = false;
        loop {
            match r.next_packet() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => { failed = true; break; }
            }
        }
        prop_assert!(failed, "flip at {} went unnoticed", pos);
    }
}

/// The first 7 pages of a grouped Ogg Opus file written by FFmpeg
/// (libavformat 62.8, from the webrtc-rs test data, MIT/Apache-2.0): two
/// logical streams, pages interleaved, one 20 ms packet per audio page.
const FFMPEG_GROUPED: &[u8] = include_bytes!("data/ffmpeg_grouped.opus");

#[test]
fn reads_the_first_stream_of_an_ffmpeg_grouped_file() {
    let mut pages = PageReader::new(FFMPEG_GROUPED);
    let mut serials = Vec::new();
    let mut written = Vec::new();
    while let Some(p) = pages.next_page().unwrap() {
        serials.push(p.serial);
        written.extend(p.to_bytes().unwrap());
    }
    // Every page writes back to the same bytes, CRC included.
    assert_eq!(written, FFMPEG_GROUPED);
    assert_eq!(
        serials,
        [
            0x8ea7_983a,
            0xc2af_27b6,
            0x8ea7_983a,
            0xc2af_27b6,
            0x8ea7_983a,
            0xc2af_27b6,
            0x8ea7_983a
        ]
    );

    let mut r = OpusReader::new(FFMPEG_GROUPED).unwrap();
    assert_eq!(r.head().pre_skip, 312);
    assert!(
        r.tags()
            .comments
            .iter()
            .any(|c| c == "artist=WebRTC-rs Artist")
    );
    let p = r.next_packet().unwrap().unwrap();
    // 255 + 39 lacing, TOC 0xf8: CELT FB 20 ms, one frame.
    assert_eq!(
        (p.data.len(), p.data[0], p.samples, p.pts),
        (294, 0xf8, 960, 0)
    );
    // FFmpeg's granule counts the pre-skip samples (RFC 7845 §4).
    assert_eq!(p.granule_position, Some(960));
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(
        (p.data.len(), p.pts, p.granule_position),
        (149, 960, Some(1920))
    );
    assert!(r.next_packet().unwrap().is_none());
}

/// A `WouldBlock` from the input inside a page (its header, segment table
/// or body) is an error the caller may retry: the bytes read before it
/// are kept, and the next call goes on with the same pages as input that
/// never blocks gives.
#[test]
fn page_reading_resumes_after_would_block() {
    let mut w = OpusWriter::new(
        Vec::new(),
        7,
        &OpusHead::new(2, 48_000),
        &OpusTags::default(),
    )
    .unwrap();
    w.set_target_page_size(200);
    for p in packets() {
        w.write_packet(&p).unwrap();
    }
    let bytes = w.finish().unwrap();
    let mut want = Vec::new();
    let mut plain = PageReader::new(&bytes[..]);
    while let Some(p) = plain.next_page().unwrap() {
        want.push(p);
    }
    for piece in [1, 3, 27, 100] {
        let mut r = PageReader::new(Stalling::new(bytes.clone(), piece));
        let would_block = |e: &OggError| matches!(e, OggError::Io { source, .. } if source.kind() == std::io::ErrorKind::WouldBlock);
        let (read, blocked) = read_retrying(|| r.next_page(), would_block, bytes.len(), piece);
        assert!(blocked > 0);
        assert_eq!(read, want, "piece {piece}");
        assert_eq!(r.pages_read(), want.len() as u64);
    }
}
