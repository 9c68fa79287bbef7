//! H.264 Annex B: start codes, NAL units, access units, keyframes.

use ferrtc_media::h264::{
    AccessUnit, AnnexBError, AnnexBReader, AnnexBWriter, DEFAULT_MAX_ACCESS_UNIT_SIZE,
    first_mb_in_slice, split_nal_units,
};
use proptest::prelude::*;

mod common;
use common::{Stalling, read_retrying};

const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e, 0xd9];
const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
const SEI: &[u8] = &[0x06, 0x05, 0x01, 0x80];
const AUD: &[u8] = &[0x09, 0xf0];
/// IDR slice, first_mb_in_slice = 0 (ue "1").
const IDR0: &[u8] = &[0x65, 0x88, 0x84, 0x21];
/// IDR slice, first_mb_in_slice = 3 (ue "00100").
const IDR3: &[u8] = &[0x65, 0x20, 0x84, 0x21];
/// Non-IDR slice, first_mb_in_slice = 0.
const P0: &[u8] = &[0x41, 0x9a, 0x22, 0x11];
/// Non-IDR slice, first_mb_in_slice = 1 (ue "010").
const P1: &[u8] = &[0x41, 0x40, 0x22, 0x11];

fn stream(nals: &[&[u8]], four_byte: bool) -> Vec<u8> {
    let mut s = Vec::new();
    for n in nals {
        if four_byte {
            s.push(0);
        }
        s.extend_from_slice(&[0, 0, 1]);
        s.extend_from_slice(n);
    }
    s
}

fn read_aus(bytes: &[u8]) -> Vec<AccessUnit> {
    let mut r = AnnexBReader::new(bytes);
    let mut aus = Vec::new();
    while let Some(au) = r.next_access_unit().unwrap() {
        aus.push(au);
    }
    aus
}

#[test]
fn first_mb_in_slice_reads_exp_golomb() {
    assert_eq!(first_mb_in_slice(IDR0), Some(0));
    assert_eq!(first_mb_in_slice(IDR3), Some(3));
    assert_eq!(first_mb_in_slice(P0), Some(0));
    assert_eq!(first_mb_in_slice(P1), Some(1));
    // 0x00 0x00 0x03 0x01: the 03 is an emulation prevention byte, so the
    // bits are 16 zeros then 0x01 = 23 zeros and a one: more than the
    // following bits hold.
    assert_eq!(first_mb_in_slice(&[0x41, 0x00, 0x00, 0x03, 0x01]), None);
    // 15 zeros, a one, then 15 bits. With `00 00 03` the 03 is dropped and
    // the 15 bits are all zero (2^15 - 1); with `00 03` it is data and the
    // bits end in a one (2^15 - 1 + 1).
    assert_eq!(
        first_mb_in_slice(&[0x41, 0x00, 0x01, 0x00, 0x00, 0x03, 0x02]),
        Some(32767)
    );
    assert_eq!(
        first_mb_in_slice(&[0x41, 0x00, 0x01, 0x00, 0x03]),
        Some(32767 + 1)
    );
    assert_eq!(first_mb_in_slice(SPS), None);
    assert_eq!(first_mb_in_slice(&[0x41]), None);
}

#[test]
fn splits_on_three_and_four_byte_start_codes() {
    let mut s = stream(&[SPS, PPS], true);
    s.extend(stream(&[IDR0], false));
    // Trailing zero bytes belong to no NAL unit.
    s.extend_from_slice(&[0, 0]);
    s.extend(stream(&[P0], true));
    let nals = split_nal_units(&s);
    assert_eq!(nals, vec![SPS, PPS, IDR0, P0]);
    let mut r = AnnexBReader::new(&s[..]);
    let mut read = Vec::new();
    while let Some(n) = r.next_nal().unwrap() {
        read.push(n);
    }
    assert_eq!(read, nals);
}

#[test]
fn groups_access_units_by_the_documented_rule() {
    let s = stream(
        &[
            AUD, SPS, PPS, SEI, IDR0, IDR3, // 1: keyframe in two slices
            P0, P1, // 2: a new slice with first_mb 0
            AUD, P0, // 3: AUD
            SEI, P0, // 4: SEI after a slice
            SPS, PPS, IDR0, // 5: parameter sets then IDR
        ],
        true,
    );
    let aus = read_aus(&s);
    let expected: Vec<Vec<&[u8]>> = vec![
        vec![AUD, SPS, PPS, SEI, IDR0, IDR3],
        vec![P0, P1],
        vec![AUD, P0],
        vec![SEI, P0],
        vec![SPS, PPS, IDR0],
    ];
    assert_eq!(aus.len(), expected.len());
    for (au, nals) in aus.iter().zip(&expected) {
        assert_eq!(&au.nals, nals);
    }
    let keys: Vec<bool> = aus.iter().map(AccessUnit::is_keyframe).collect();
    assert_eq!(keys, [true, false, false, false, true]);
}

#[test]
fn writer_round_trips_through_the_reader() {
    let aus = vec![
        AccessUnit {
            nals: vec![SPS.to_vec(), PPS.to_vec(), IDR0.to_vec()],
        },
        AccessUnit {
            nals: vec![P0.to_vec(), P1.to_vec()],
        },
        AccessUnit {
            nals: vec![P0.to_vec()],
        },
    ];
    let mut w = AnnexBWriter::new(Vec::new());
    for au in &aus {
        w.write_access_unit(au).unwrap();
    }
    let bytes = w.finish().unwrap();
    assert_eq!(&bytes[..5], &[0, 0, 0, 1, 0x67]);
    assert_eq!(
        bytes,
        aus.iter()
            .flat_map(AccessUnit::to_annex_b)
            .collect::<Vec<_>>()
    );
    assert_eq!(read_aus(&bytes), aus);
    assert!(matches!(
        AnnexBWriter::new(Vec::new()).write_nal(&[]),
        Err(AnnexBError::EmptyNal)
    ));
}

#[test]
fn a_large_stream_crosses_read_chunks() {
    // NAL units longer than the reader's 64 KiB chunks, and many small ones.
    let big: Vec<u8> = std::iter::once(0x41u8)
        .chain([0x80])
        .chain((0..200_000u32).map(|i| (i % 200 + 2) as u8))
        .collect();
    let mut nals: Vec<Vec<u8>> = vec![SPS.to_vec(), PPS.to_vec(), IDR0.to_vec()];
    for _ in 0..3 {
        nals.push(big.clone());
    }
    for _ in 0..5000 {
        nals.push(P0.to_vec());
    }
    let refs: Vec<&[u8]> = nals.iter().map(Vec::as_slice).collect();
    let s = stream(&refs, false);
    let mut r = AnnexBReader::new(&s[..]);
    let mut read = Vec::new();
    while let Some(n) = r.next_nal().unwrap() {
        read.push(n);
    }
    assert_eq!(read, nals);
    // SPS PPS IDR, each big slice (first_mb 0), each small one.
    assert_eq!(read_aus(&s).len(), 1 + 3 + 5000);
}

#[test]
fn malformed_streams_are_errors() {
    let e = AnnexBReader::new(&b"\x12\x00\x00\x01\x41"[..])
        .next_nal()
        .unwrap_err();
    assert!(
        matches!(e, AnnexBError::MissingStartCode { offset: 0x12 }),
        "{e}"
    );
    assert!(
        AnnexBReader::new(&b"garbage without start code"[..])
            .next_nal()
            .is_err()
    );
    // Leading zeros are fine; an empty input is an empty stream.
    let mut r = AnnexBReader::new(&b"\x00\x00\x00\x00\x00\x01\x41\x9a"[..]);
    assert_eq!(r.next_nal().unwrap().unwrap(), [0x41, 0x9a]);
    assert!(AnnexBReader::new(&b""[..]).next_nal().unwrap().is_none());
    let e = AnnexBReader::new(&stream(&[SPS, &[0xe5, 1]], true)[..])
        .next_access_unit()
        .unwrap_err();
    assert!(
        matches!(
            e,
            AnnexBError::ForbiddenBit {
                index: 1,
                header: 0xe5
            }
        ),
        "{e}"
    );
    let big = stream(&[&[0x41; 5000]], true);
    let e = AnnexBReader::with_max_nal_size(&big[..], 1000)
        .next_nal()
        .unwrap_err();
    assert!(matches!(
        e,
        AnnexBError::NalTooLarge {
            index: 0,
            limit: 1000
        }
    ));
}

proptest! {
    #[test]
    fn any_nals_without_start_codes_round_trip(
        nals in proptest::collection::vec(
            (1u8..=23, proptest::collection::vec(1u8..=255, 0..100)), 1..50),
    ) {
        // Nonzero payload bytes: no start code or trailing zero can appear.
        let nals: Vec<Vec<u8>> = nals.into_iter().map(|(t, mut b)| { b.insert(0, t); b }).collect();
        let mut w = AnnexBWriter::new(Vec::new());
        for n in &nals {
            w.write_nal(n).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut r = AnnexBReader::new(&bytes[..]);
        let mut read = Vec::new();
        while let Some(n) = r.next_nal().unwrap() {
            read.push(n);
        }
        prop_assert_eq!(&read, &nals);
        prop_assert_eq!(split_nal_units(&bytes), nals.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let aus = read_aus(&bytes);
        prop_assert_eq!(aus.into_iter().flat_map(|a| a.nals).collect::<Vec<_>>(), nals);
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
        let mut r = AnnexBReader::with_max_nal_size(&bytes[..], 100);
        while let Ok(Some(_)) = r.next_access_unit() {}
    }
}

#[test]
fn start_codes_straddling_the_read_chunk_boundary() {
    // The reader reads 64 KiB at a time: put a 3- or 4-byte start code at
    // every position across the first boundary, after NAL units already
    // taken from the first chunk.
    const CHUNK: usize = 64 * 1024;
    for four_byte in [false, true] {
        let prefix = stream(&[SPS, PPS], four_byte);
        let sc = if four_byte { 4 } else { 3 };
        for shift in 0..8 {
            // The start code after `big` begins `shift` bytes before the boundary.
            let big_len = CHUNK - shift - prefix.len() - sc;
            let big: Vec<u8> = std::iter::once(0x41)
                .chain((1..big_len).map(|_| 0x55))
                .collect();
            let s = stream(&[SPS, PPS, &big, P0, P1], four_byte);
            assert_eq!(&s[CHUNK - shift..CHUNK - shift + sc - 1], &[0; 4][..sc - 1]);
            let mut r = AnnexBReader::new(&s[..]);
            let mut read = Vec::new();
            while let Some(n) = r.next_nal().unwrap() {
                read.push(n);
            }
            assert_eq!(
                read,
                [SPS, PPS, big.as_slice(), P0, P1],
                "shift {shift}, four {four_byte}"
            );
        }
    }
}

/// `first` then `count` copies of `nal`, each after a 4-byte start code,
/// made as they are read (the input itself takes no memory).
struct Repeated {
    first: Vec<u8>,
    nal: Vec<u8>,
    count: usize,
    at: usize,
}

impl std::io::Read for Repeated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let unit = self.first.len() + 4 + self.nal.len();
            let total = self.first.len() + self.count * (4 + self.nal.len());
            if self.at >= total {
                break;
            }
            let byte = if self.at < self.first.len() {
                self.first[self.at]
            } else {
                let i = (self.at - self.first.len()) % (unit - self.first.len());
                if i < 4 {
                    [0, 0, 0, 1][i]
                } else {
                    self.nal[i - 4]
                }
            };
            buf[n] = byte;
            n += 1;
            self.at += 1;
        }
        Ok(n)
    }
}

/// Annex B (H.264 §B.1) has no size field: an access unit lasts until
/// the rule of the module documentation starts the next one, and NAL
/// units that never start one (filler data, type 12, H.264 §7.3.2.7, or
/// slices whose `first_mb_in_slice` is not 0) would join one access unit
/// without end. Each NAL unit is bounded; so is the access unit: past
/// `DEFAULT_MAX_ACCESS_UNIT_SIZE` bytes of NAL units it is an error, not
/// memory growing with the stream.
#[test]
fn an_access_unit_that_never_ends_is_an_error() {
    let filler = Repeated {
        first: stream(&[SPS, PPS, IDR0], true),
        nal: [&[0x0c][..], &[0xff; 4095]].concat(),
        count: 40 * 256, // 40 MiB of filler data
        at: 0,
    };
    let mut r = AnnexBReader::new(filler);
    let got = r.next_access_unit();
    assert!(
        matches!(
            got,
            Err(AnnexBError::AccessUnitTooLarge { limit, .. }) if limit == DEFAULT_MAX_ACCESS_UNIT_SIZE
        ),
        "{:?}",
        got.map(|au| au.map(|au| au.nals.len()))
    );

    // The limit can be set; an access unit within it reads. It counts
    // what the unit holds: the NAL units' bytes and 48 bytes each.
    let s = stream(&[SPS, PPS, IDR0, &[0x0c; 100], P0], true);
    let held = SPS.len() + PPS.len() + IDR0.len() + 100 + 4 * 48;
    let mut r = AnnexBReader::new(&s[..]);
    r.set_max_access_unit_size(held);
    assert_eq!(r.next_access_unit().unwrap().unwrap().nals.len(), 4);
    let mut r = AnnexBReader::new(&s[..]);
    r.set_max_access_unit_size(held - 1);
    let got = r.next_access_unit();
    assert!(
        matches!(
            got,
            Err(AnnexBError::AccessUnitTooLarge { index: 3, limit }) if limit == held - 1
        ),
        "{got:?}"
    );
}

/// Whether `e` is the input's `WouldBlock`, which the caller retries.
fn would_block(e: &AnnexBError) -> bool {
    matches!(e, AnnexBError::Io { source, .. } if source.kind() == std::io::ErrorKind::WouldBlock)
}

/// A `WouldBlock` from the input is an error the caller may retry: the
/// bytes read before it are kept, and the next call goes on with the
/// same NAL units as input that never blocks gives.
#[test]
fn reading_resumes_after_would_block() {
    let big: Vec<u8> = std::iter::once(0x41).chain(1..200).collect();
    let nals = [SPS, PPS, &big, P0, P1];
    let data = stream(&nals, true);
    for piece in [1, 2, 5, 64] {
        let mut r = AnnexBReader::new(Stalling::new(data.clone(), piece));
        let (read, blocked) = read_retrying(|| r.next_nal(), would_block, data.len(), piece);
        assert!(blocked > 0);
        let sizes: Vec<usize> = read.iter().map(Vec::len).collect();
        assert!(read == nals, "piece {piece}: NAL units of {sizes:?} bytes");
    }
}

/// `usize::MAX` as the NAL unit limit means no limit: a NAL unit longer
/// than one read chunk reads instead of overflowing the limit check.
#[test]
fn a_nal_limit_of_usize_max_is_no_limit() {
    let big: Vec<u8> = std::iter::once(0x41)
        .chain(std::iter::repeat_n(0x55, 100_000))
        .collect();
    let data = stream(&[SPS, &big, P0], true);
    let mut r = AnnexBReader::with_max_nal_size(&data[..], usize::MAX);
    let mut read = Vec::new();
    while let Some(n) = r.next_nal().expect("reads") {
        read.push(n);
    }
    let sizes: Vec<usize> = read.iter().map(Vec::len).collect();
    assert!(
        read == [SPS, big.as_slice(), P0],
        "NAL units of {sizes:?} bytes"
    );
}

/// Review: a `WouldBlock` in the middle of an access unit is retried as
/// for `next_nal`: the next `next_access_unit` call gives the same access
/// units as input that never blocks, none of their NAL units lost.
#[test]
fn access_units_resume_after_would_block() {
    let nals = [SPS, PPS, IDR0, IDR3, P0, P1, P0];
    let data = stream(&nals, true);
    let want = read_aus(&data);
    assert_eq!(want.len(), 3);
    for piece in [1, 5, 64] {
        let mut r = AnnexBReader::new(Stalling::new(data.clone(), piece));
        let (read, _) = read_retrying(|| r.next_access_unit(), would_block, data.len(), piece);
        assert_eq!(read, want, "piece {piece}");
    }
}
