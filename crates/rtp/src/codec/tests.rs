use super::*;
use proptest::prelude::*;

/// Packetizes `frame`, checks every payload fits `mtu`, and depacketizes the
/// payloads back into a frame.
fn round_trip(codec: Codec, mtu: usize, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let payloads = codec.payloader().payload(mtu, frame).unwrap();
    assert!(!payloads.is_empty());
    for p in &payloads {
        assert!(
            p.len() <= mtu,
            "{codec:?}: payload of {} over MTU {mtu}",
            p.len()
        );
    }
    let mut d = codec.depacketizer();
    assert!(
        d.is_frame_start(&payloads[0]),
        "{codec:?}: first payload does not start a frame"
    );
    let mut out = Vec::new();
    for p in &payloads {
        d.depacketize(p, &mut out).unwrap();
    }
    (payloads, out)
}

fn annex_b(nals: &[Vec<u8>]) -> Vec<u8> {
    nals.iter()
        .flat_map(|n| [0, 0, 0, 1].into_iter().chain(n.iter().copied()))
        .collect()
}

fn obu(kind: u8, ext: Option<u8>, payload: &[u8]) -> Vec<u8> {
    let mut o = vec![kind << 3 | 0x02 | if ext.is_some() { 0x04 } else { 0 }];
    o.extend(ext);
    av1::write_leb128(payload.len() as u64, &mut o);
    o.extend_from_slice(payload);
    o
}

#[test]
fn the_packetizer_numbers_packets_marks_the_last_and_keeps_the_mtu_with_extensions() {
    use crate::packet::{ExtensionId, Extensions, PayloadType, RtpPacket};
    let mut ext = Extensions::new();
    ext.insert(ExtensionId::new(1).unwrap(), b"0").unwrap();
    let mut p = Packetizer::new(Codec::Vp8, PayloadType::new(96).unwrap(), 9, 65535);
    let frame = vec![0x10; 3000];
    let packets = p.packetize(1200, 90, &frame, &ext).unwrap();
    assert_eq!(packets.len(), 3);
    let parsed: Vec<_> = packets
        .iter()
        .map(|b| RtpPacket::parse(b).unwrap())
        .collect();
    assert_eq!(
        parsed.iter().map(|p| p.sequence_number).collect::<Vec<_>>(),
        vec![65535, 0, 1]
    );
    assert_eq!(
        parsed.iter().map(|p| p.marker).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    assert!(packets.iter().all(|b| b.len() <= 1200));
    assert!(
        parsed
            .iter()
            .all(|p| p.timestamp == 90 && p.extensions == ext)
    );
    assert_eq!(p.next_sequence(), 2);
    assert_eq!(
        p.packetize(20, 0, &frame, &ext),
        Err(CodecError::MtuTooSmall {
            needed: 21,
            mtu: 20
        })
    );
    let mut audio = Packetizer::new(Codec::Opus, PayloadType::new(111).unwrap(), 9, 0);
    let packets = audio
        .packetize(1200, 0, &[1; 100], &Extensions::new())
        .unwrap();
    assert!(!RtpPacket::parse(&packets[0]).unwrap().marker);
}

#[test]
fn stap_a_aggregates_sps_pps_and_idr_with_16_bit_sizes_as_rfc6184_figure_7() {
    let sps = vec![0x67, 0x42, 0x00, 0x1f];
    let pps = vec![0x68, 0xce, 0x3c, 0x80];
    let idr = vec![0x65, 0x88, 0x84, 0x21];
    let frame = annex_b(&[sps.clone(), pps.clone(), idr.clone()]);
    let (payloads, out) = round_trip(Codec::H264(PacketizationMode::NonInterleaved), 1200, &frame);
    // STAP-A header (F=0, NRI=3, type 24), then size + unit for each.
    let mut want = vec![0x78];
    for n in [&sps, &pps, &idr] {
        want.extend_from_slice(&(n.len() as u16).to_be_bytes());
        want.extend_from_slice(n);
    }
    assert_eq!(payloads, vec![want]);
    assert_eq!(out, frame);
    assert!(H264Depacketizer.is_keyframe(&payloads[0]));
}

#[test]
fn h264_fragments_a_large_nal_unit_into_fu_a_with_start_and_end_bits() {
    // first_mb_in_slice = 0: the slice data starts with a 1 bit.
    let mut idr = vec![0x65, 0x88];
    idr.extend((0..2999).map(|i| (i % 250 + 1) as u8));
    let frame = annex_b(&[idr.clone()]);
    let (payloads, out) = round_trip(Codec::H264(PacketizationMode::NonInterleaved), 1000, &frame);
    assert_eq!(payloads.len(), 4);
    assert_eq!(payloads[0][..2], [0x7c, 0x85]);
    assert_eq!(payloads[1][..2], [0x7c, 0x05]);
    assert_eq!(payloads[3][..2], [0x7c, 0x45]);
    assert!(H264Depacketizer.is_keyframe(&payloads[0]));
    assert!(!H264Depacketizer.is_keyframe(&payloads[1]));
    assert_eq!(out, frame);
}

#[test]
fn h264_never_aggregates_a_unit_too_long_for_a_16_bit_stap_a_size() {
    let big: Vec<u8> = std::iter::once(0x41)
        .chain(std::iter::repeat_n(0x88, 70_000))
        .collect();
    let frame = annex_b(&[vec![0x06, 1], big.clone(), vec![0x41, 0x88]]);
    let payloads = H264Payloader::new(PacketizationMode::NonInterleaved)
        .payload(100_000, &frame)
        .unwrap();
    assert_eq!(payloads, vec![vec![0x06, 1], big, vec![0x41, 0x88]]);
}

#[test]
fn h264_mode_0_sends_single_nal_units_and_refuses_one_over_the_mtu() {
    let nals = vec![vec![0x67, 1, 2], vec![0x68, 3], vec![0x65, 0x88, 5, 6]];
    let frame = annex_b(&nals);
    let (payloads, out) = round_trip(Codec::H264(PacketizationMode::SingleNal), 100, &frame);
    assert_eq!(payloads, nals);
    assert_eq!(out, frame);
    let err = H264Payloader::new(PacketizationMode::SingleNal).payload(3, &frame);
    assert_eq!(err, Err(CodecError::TooLarge { size: 4, mtu: 3 }));
}

#[test]
fn h264_payloader_prepends_the_last_sps_and_pps_to_a_lone_idr() {
    let mut p = H264Payloader::new(PacketizationMode::NonInterleaved);
    p.payload(
        1200,
        &annex_b(&[vec![0x67, 1], vec![0x68, 2], vec![0x65, 0x88]]),
    )
    .unwrap();
    p.payload(1200, &annex_b(&[vec![0x41, 0x9a]])).unwrap();
    let out = p.payload(1200, &annex_b(&[vec![0x65, 0x88, 7]])).unwrap();
    assert_eq!(
        out,
        vec![vec![
            0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 2, 0, 3, 0x65, 0x88, 7
        ]]
    );
}

#[test]
fn h264_depacketizer_refuses_fragments_without_start_and_interleaved_types() {
    let mut f = Vec::new();
    assert_eq!(
        H264Depacketizer.depacketize(&[0x7c, 0x05, 1], &mut f),
        Err(CodecError::MissingStart)
    );
    assert!(matches!(
        H264Depacketizer.depacketize(&[0x19, 0], &mut f),
        Err(CodecError::Unsupported(_))
    ));
    assert_eq!(
        H264Depacketizer.depacketize(&[0x78, 0, 9, 1], &mut f),
        Err(CodecError::Truncated("STAP-A unit"))
    );
}

#[test]
fn vp8_descriptor_carries_a_15_bit_picture_id_and_keyframe_bit() {
    let mut p = Vp8Payloader::new(0x1234);
    let frame = vec![0x10; 2500];
    let payloads = p.payload(1000, &frame).unwrap();
    assert_eq!(payloads.len(), 3);
    assert_eq!(payloads[0][..4], [0x90, 0x80, 0x92, 0x34]);
    assert_eq!(payloads[1][..4], [0x80, 0x80, 0x92, 0x34]);
    let d = Vp8Descriptor::parse(&payloads[0]).unwrap();
    assert_eq!(d.picture_id, Some(0x1234));
    assert!(d.start_of_partition);
    assert!(Vp8Depacketizer.is_keyframe(&payloads[0]));
    assert!(!Vp8Depacketizer.is_keyframe(&payloads[1]));
    let next = p.payload(1000, &[0x11]).unwrap();
    assert_eq!(
        Vp8Descriptor::parse(&next[0]).unwrap().picture_id,
        Some(0x1235)
    );
    assert!(!Vp8Depacketizer.is_keyframe(&next[0]));
}

#[test]
fn vp8_descriptor_with_tl0picidx_tid_and_keyidx_parses() {
    // X, S; I L T K; 7-bit PictureID 5; TL0PICIDX 9; TID 2 Y KEYIDX 3.
    let d = Vp8Descriptor::parse(&[0x90, 0xf0, 0x05, 0x09, 0xa3, 0x00]).unwrap();
    assert_eq!(d.picture_id, Some(5));
    assert_eq!(d.tl0_pic_idx, Some(9));
    assert_eq!(d.tid, Some(2));
    assert!(d.layer_sync);
    assert_eq!(d.key_idx, Some(3));
    assert_eq!(d.len, 5);
    assert_eq!(
        Vp8Descriptor::parse(&[0x90, 0xf0, 0x85]),
        Err(CodecError::Truncated("VP8 payload descriptor"))
    );
}

#[test]
fn vp9_flexible_mode_descriptor_with_references_and_ss_parses() {
    // I P L F B: 15-bit PictureID, layer, two P_DIFF, then payload.
    let d = Vp9Descriptor::parse(&[0xf8, 0x81, 0x02, 0x43, 0x05, 0x02, 0xaa]).unwrap();
    assert!(d.flexible && d.inter_picture && d.start_of_frame);
    assert_eq!(d.picture_id, Some(0x102));
    assert_eq!(d.layer.unwrap().temporal, 2);
    assert_eq!(d.layer.unwrap().spatial, 1);
    assert_eq!(d.tl0_pic_idx, None);
    assert_eq!(d.reference_count, 2);
    assert_eq!(d.len, 6);
    // Non-flexible with SS: N_S=1 (2 layers), Y with sizes, G with 1 group of 1 ref.
    let mut p = vec![0x8a, 0x05, 0x38];
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&[0x01, 0x04, 0x01, 0xee]);
    let d = Vp9Descriptor::parse(&p).unwrap();
    assert!(d.has_scalability_structure);
    assert_eq!(d.len, p.len() - 1);
}

#[test]
fn vp9_payloader_marks_key_frames_with_ss_and_b_e_flags() {
    let mut key = vec![0x80];
    key.extend(vec![7; 2000]);
    let payloads = Vp9Payloader::new(1).payload(1000, &key).unwrap();
    assert_eq!(payloads.len(), 3);
    assert_eq!(payloads[0][0], 0x8a);
    assert_eq!(payloads[2][0], 0x84);
    assert!(Vp9Depacketizer.is_keyframe(&payloads[0]));
    let inter = Vp9Payloader::new(1).payload(1000, &[0x84, 1]).unwrap();
    assert_eq!(inter[0][0], 0xcc);
    assert!(!Vp9Depacketizer.is_keyframe(&inter[0]));
}

/// The payloads of VP9 (key and inter frames, two pictures each) and
/// G.711 at several MTUs, pinned byte for byte: each payload's length and
/// an FNV-1a hash of them all. Cutting them as pieces (see
/// `Payloader::payload_pieces`) changed no byte.
#[test]
fn vp9_and_g711_payloads_are_exactly_these_bytes() {
    let mut key = vec![0x80];
    key.extend((0..4000u32).map(|i| (i * 7 + i / 251) as u8));
    let mut inter = vec![0x84];
    inter.extend((0..2500u32).map(|i| (i * 13) as u8));
    let mut lens = Vec::new();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for mtu in [5, 300, 1188] {
        let mut vp9 = Vp9Payloader::new(0x7ffe);
        let mut g711 = G711Payloader;
        let out = [
            vp9.payload(mtu, &key).unwrap(),
            vp9.payload(mtu, &inter).unwrap(),
            vp9.payload(mtu, &key).unwrap(),
            g711.payload(mtu, &inter).unwrap(),
        ];
        for p in out.iter().flatten() {
            lens.push(p.len());
            for b in p {
                hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    assert_eq!(lens.len(), 11_064);
    assert_eq!(lens.iter().sum::<usize>(), 70_671);
    assert_eq!(hash, 0x448f_fc20_eac1_e840);
}

/// H.264 payloads in both modes, pinned byte for byte as above: a key
/// frame with its parameter sets (STAP-A of SPS and PPS, the IDR in FU-As
/// or alone), a frame of small slices (one STAP-A), and a later key
/// frame without parameter sets (the last ones repeated before it).
#[test]
fn h264_payloads_are_exactly_these_bytes() {
    let body = |n: usize, k: u32| -> Vec<u8> { (0..n as u32).map(|i| (i * k + 3) as u8).collect() };
    let sc = [0u8, 0, 0, 1];
    let key = [
        &sc[..],
        &[0x67, 0x42, 0xc0, 0x1f],
        &sc,
        &[0x68, 0xce, 0x3c, 0x80],
        &sc,
        &[0x65],
        &body(5_000, 7),
    ]
    .concat();
    let small = [
        &sc[..],
        &[0x41],
        &body(200, 11),
        &sc,
        &[0x41],
        &body(300, 13),
        &sc,
        &[0x01],
        &body(40, 17),
    ]
    .concat();
    let bare_key = [&sc[..], &[0x65], &body(700, 19)].concat();
    let mut lens = Vec::new();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for mtu in [300, 1188] {
        for mode in [
            PacketizationMode::NonInterleaved,
            PacketizationMode::SingleNal,
        ] {
            let mut h264 = H264Payloader::new(mode);
            for frame in [&key, &small, &bare_key] {
                let Ok(out) = h264.payload(mtu, frame) else {
                    lens.push(0);
                    continue;
                };
                for p in &out {
                    lens.push(p.len());
                    for b in p {
                        hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
                    }
                }
            }
        }
    }
    assert_eq!(lens.len(), 44);
    assert_eq!(lens.iter().sum::<usize>(), 13_853);
    assert_eq!(hash, 0x2471_476b_d31c_5fe1);
}

#[test]
fn av1_fragments_obus_with_y_and_z_and_drops_temporal_delimiters() {
    let seq = obu(1, None, &[1, 2, 3]);
    let frame_obu = obu(6, Some(0x28), &[9; 2500]);
    let mut tu = obu(2, None, &[]);
    tu.extend_from_slice(&seq);
    tu.extend_from_slice(&frame_obu);
    let (payloads, out) = round_trip(Codec::Av1, 1000, &tu);
    assert_eq!(payloads[0][0] & 0xc8, 0x48, "first: Y and N, not Z");
    assert_eq!(payloads[1][0] & 0xc0, 0xc0, "middle: Z and Y");
    assert_eq!(payloads.last().unwrap()[0] & 0xc0, 0x80, "last: Z only");
    assert!(Av1Depacketizer::default().is_keyframe(&payloads[0]));
    let mut want = seq;
    want.extend_from_slice(&frame_obu);
    assert_eq!(out, want);
}

#[test]
fn av1_depacketizer_reads_w_counted_elements_and_refuses_orphan_fragments() {
    // W=2: the first element has a length, the last takes the rest.
    let p = [0x20, 0x02, 0x30, 0xaa, 0x30, 0xbb, 0xcc];
    let mut f = Vec::new();
    Av1Depacketizer::default().depacketize(&p, &mut f).unwrap();
    assert_eq!(f, vec![0x32, 1, 0xaa, 0x32, 2, 0xbb, 0xcc]);
    // An element that kept its size field is read by that size.
    let mut f = Vec::new();
    Av1Depacketizer::default()
        .depacketize(&[0x10, 0x32, 0x01, 0xaa, 0x00], &mut f)
        .unwrap();
    assert_eq!(f, vec![0x32, 1, 0xaa]);
    let mut f = Vec::new();
    assert_eq!(
        Av1Depacketizer::default().depacketize(&[0x80, 0x01, 0x30], &mut f),
        Err(CodecError::MissingStart)
    );
}

#[test]
fn after_a_loss_only_starts_nothing_can_precede_begin_a_frame() {
    // H.264: an SPS or an access unit delimiter; not a slice that lost
    // parameter sets may precede.
    assert!(H264Depacketizer.is_frame_start_after_loss(&[0x67, 1]));
    assert!(H264Depacketizer.is_frame_start_after_loss(&[0x09, 0xf0]));
    assert!(H264Depacketizer.is_frame_start(&[0x65, 0x88]));
    assert!(!H264Depacketizer.is_frame_start_after_loss(&[0x65, 0x88]));
    assert!(!H264Depacketizer.is_frame_start_after_loss(&[0x7c, 0x85, 0x88]));
    // AV1: N, or a first element that is a sequence header or temporal
    // delimiter; not a frame OBU whose sequence header may be lost.
    let av1 = Av1Depacketizer::default();
    assert!(av1.is_frame_start_after_loss(&[0x08, 0x01, 0x30]));
    assert!(av1.is_frame_start_after_loss(&[0x10, 0x08]));
    assert!(av1.is_frame_start(&[0x10, 0x30]));
    assert!(!av1.is_frame_start_after_loss(&[0x10, 0x30]));
    assert!(!av1.is_frame_start_after_loss(&[0x88, 0x01, 0x08]));
    // VP8: the start bit is enough.
    assert!(Vp8Depacketizer.is_frame_start_after_loss(&[0x10, 0x00]));
}

#[test]
fn audio_payloaders_respect_the_mtu() {
    assert_eq!(
        OpusPayloader.payload(10, &[1; 11]),
        Err(CodecError::TooLarge { size: 11, mtu: 10 })
    );
    let (payloads, out) = round_trip(Codec::Pcmu, 100, &[0x55; 250]);
    assert_eq!(
        payloads.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![84, 83, 83]
    );
    assert_eq!(out, vec![0x55; 250]);
}

#[test]
fn depacketizers_survive_arbitrary_bytes() {
    let mut state = 7u64;
    for len in 0..200 {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        for codec in Codec::ALL {
            let mut d = codec.depacketizer();
            let mut f = Vec::new();
            let _ = d.depacketize(&data, &mut f);
            let _ = d.is_keyframe(&data);
            let _ = d.is_frame_start(&data);
        }
    }
}

fn nal() -> impl Strategy<Value = Vec<u8>> {
    // Types 1 and 5..=9 avoid 0x00 bytes (no emulation prevention needed).
    (
        prop_oneof![Just(0x41u8), Just(0x65), Just(0x06), Just(0x67), Just(0x68)],
        proptest::collection::vec(1u8..=255, 1..1500),
    )
        .prop_map(|(h, mut body)| {
            // Slices start a frame only with first_mb_in_slice = 0.
            body[0] |= 0x80;
            std::iter::once(h).chain(body).collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_codec_round_trips_a_frame_within_the_mtu(
        body in proptest::collection::vec(any::<u8>(), 1..6000),
        mtu in 60usize..1400,
    ) {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::Vp8, Codec::Vp9] {
            let (_, out) = round_trip(codec, mtu, &body);
            prop_assert_eq!(&out, &body);
        }
        let small = &body[..body.len().min(mtu)];
        prop_assert_eq!(round_trip(Codec::Opus, mtu, small).1, small);
        let tu = [obu(1, None, &body[..body.len().min(20)]), obu(6, Some(body[0]), &body)].concat();
        prop_assert_eq!(round_trip(Codec::Av1, mtu, &tu).1, tu);
    }

    #[test]
    fn payload_pieces_are_the_payloads_with_the_last_marked(
        body in proptest::collection::vec(any::<u8>(), 1..6000),
        mtu in 60usize..1400,
    ) {
        let small = &body[..body.len().min(mtu)];
        let h264 = [&[0, 0, 0, 1, 0x67, 1, 2][..], &[0, 0, 0, 1, 0x68, 3], &[0, 0, 0, 1, 0x65], &body].concat();
        for (codec, frame) in [(Codec::Vp8, &body[..]), (Codec::Vp9, &body[..]), (Codec::Opus, small), (Codec::Pcmu, &body[..]), (Codec::H264(PacketizationMode::NonInterleaved), &h264[..])] {
            // Two frames each: state (VP8's picture id) moves on alike.
            let mut whole = codec.payloader();
            let mut pieces = codec.payloader();
            for _ in 0..2 {
                let want = whole.payload(mtu, frame).unwrap();
                let mut got = Vec::new();
                let mut lasts = Vec::new();
                pieces
                    .payload_pieces(mtu, frame, &mut |p, last| {
                        got.push(p.concat());
                        lasts.push(last);
                    })
                    .unwrap();
                prop_assert_eq!(&got, &want);
                let marked: Vec<bool> = (0..want.len()).map(|i| i + 1 == want.len()).collect();
                prop_assert_eq!(lasts, marked);
            }
        }
        let mut emitted = 0;
        let too_long = Codec::Opus.payloader().payload_pieces(mtu, &vec![0; mtu + 1], &mut |_, _| emitted += 1);
        let empty = Codec::Vp8.payloader().payload_pieces(mtu, &[], &mut |_, _| emitted += 1);
        prop_assert!(too_long.is_err() && empty.is_err());
        prop_assert_eq!(emitted, 0);
    }

    #[test]
    fn h264_round_trips_any_access_unit_in_mode_1(nals in proptest::collection::vec(nal(), 1..6), mtu in 40usize..1400) {
        let frame = annex_b(&nals);
        let (_, out) = round_trip(Codec::H264(PacketizationMode::NonInterleaved), mtu, &frame);
        prop_assert_eq!(out, frame);
    }
}
