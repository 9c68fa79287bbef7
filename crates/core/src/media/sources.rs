//! The synchronization and contributing sources of one receiver (W3C
//! webrtc-pc §5.3.1 `getSynchronizationSources()`,
//! `getContributingSources()`, §5.3.2 `RTCRtpContributingSource`): per
//! SSRC and per CSRC, when its last media packet arrived, that packet's
//! RTP timestamp and the audio level the sender (RFC 6464) or the mixer
//! (RFC 6465) wrote in it.
//!
//! Both tables are bounded ([`MAX_SYNCHRONIZATION_SOURCES`],
//! [`MAX_CONTRIBUTING_SOURCES`]): a new source past the bound evicts the
//! one heard from least recently. Entries older than [`SOURCE_WINDOW`] are
//! never returned and are dropped at the next update of another source.

use std::time::{Duration, Instant, SystemTime};

use ferrtc_rtp::extension::{AudioLevel, CsrcAudioLevels};
use ferrtc_rtp::{ExtensionId, RtpPacket};

/// W3C webrtc-pc §5.3.1: only sources heard from in the last 10 seconds
/// are returned.
pub(crate) const SOURCE_WINDOW: Duration = Duration::from_secs(10);

/// The most SSRCs a receiver remembers (one stream at a time; the ones it
/// replaced stay for [`SOURCE_WINDOW`]).
pub(crate) const MAX_SYNCHRONIZATION_SOURCES: usize = 4;

/// The most CSRCs a receiver remembers (RFC 3550 §5.1: at most 15 per
/// packet).
pub(crate) const MAX_CONTRIBUTING_SOURCES: usize = 16;

/// One source of a receiver (W3C `RTCRtpSynchronizationSource` for an SSRC,
/// `RTCRtpContributingSource` for a CSRC, webrtc-pc §5.3.2).
#[derive(Debug, Clone, Copy, PartialEq)]
#[doc(alias = "RTCRtpSynchronizationSource")]
#[doc(alias = "RTCRtpContributingSource")]
pub struct RtpSource {
    /// `source`: the SSRC or CSRC.
    pub source: u32,
    /// `timestamp`: the wall-clock time the most recent media packet from
    /// the source arrived (ferrtc does not play out; this is when the
    /// packet reached the receiver).
    pub timestamp: SystemTime,
    /// `rtpTimestamp`: the RTP timestamp of that packet (RFC 3550 §5.1).
    pub rtp_timestamp: u32,
    /// `audioLevel`: 0..=1, linear, 1 being 0 dBov; converted from the
    /// RFC 6464 level (SSRC) or the RFC 6465 level (CSRC) of that packet.
    /// `None` for video, without the negotiated extension, or when that
    /// packet did not carry it (ferrtc does not decode to measure it).
    pub audio_level: Option<f64>,
}

/// W3C webrtc-pc §5.3.2 `audioLevel`: 127 (-127 dBov) is silence, 0; any
/// other level `l` is 10^(-l/20).
pub(crate) fn linear_level(level: u8) -> f64 {
    if level >= 127 {
        0.0
    } else {
        10f64.powf(-f64::from(level) / 20.0)
    }
}

/// One remembered source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceEntry {
    pub source: u32,
    /// When its last packet arrived.
    pub received: Instant,
    pub rtp_timestamp: u32,
    /// The level in -dBov (0..=127), if the packet carried one.
    pub level: Option<u8>,
}

impl SourceEntry {
    /// The W3C dictionary, with `wall` giving the wall-clock time of an
    /// instant.
    pub fn to_public(self, wall: impl Fn(Instant) -> SystemTime) -> RtpSource {
        RtpSource {
            source: self.source,
            timestamp: wall(self.received),
            rtp_timestamp: self.rtp_timestamp,
            audio_level: self.level.map(linear_level),
        }
    }
}

/// The negotiated ids of the two level extensions (audio receivers only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LevelExtensions {
    /// `urn:ietf:params:rtp-hdrext:ssrc-audio-level` (RFC 6464).
    pub ssrc: Option<ExtensionId>,
    /// `urn:ietf:params:rtp-hdrext:csrc-audio-level` (RFC 6465).
    pub csrc: Option<ExtensionId>,
}

/// The sources of one receiver.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    ssrcs: Vec<SourceEntry>,
    csrcs: Vec<SourceEntry>,
}

impl Sources {
    /// A media packet of the receiver's stream arrived at `now`: its SSRC
    /// and each of its CSRCs are heard from (W3C webrtc-pc §5.3.2: updated
    /// for every packet received).
    pub fn on_packet(&mut self, now: Instant, packet: &RtpPacket<'_>, ext: LevelExtensions) {
        // RFC 6464 §3: one byte, the V bit and the level. A malformed
        // element is no level, not a reason to drop the packet.
        let level = ext
            .ssrc
            .and_then(|id| packet.extensions.get(id))
            .and_then(|data| AudioLevel::read(data).ok())
            .map(AudioLevel::level);
        update(
            &mut self.ssrcs,
            MAX_SYNCHRONIZATION_SOURCES,
            now,
            SourceEntry {
                source: packet.ssrc,
                received: now,
                rtp_timestamp: packet.timestamp,
                level,
            },
        );
        // RFC 6465 §3: the levels follow the order of the CSRC list; a
        // list shorter than the CSRCs leaves the last ones without.
        let levels = ext
            .csrc
            .and_then(|id| packet.extensions.get(id))
            .and_then(|data| CsrcAudioLevels::read(data).ok());
        for (i, &csrc) in packet.csrcs.as_slice().iter().enumerate() {
            let level = levels.as_ref().and_then(|l| l.levels().get(i).copied());
            update(
                &mut self.csrcs,
                MAX_CONTRIBUTING_SOURCES,
                now,
                SourceEntry {
                    source: csrc,
                    received: now,
                    rtp_timestamp: packet.timestamp,
                    level,
                },
            );
        }
    }

    /// `getSynchronizationSources()`: the SSRCs heard from in the last 10
    /// seconds, most recent first.
    pub fn synchronization(&self, now: Instant) -> Vec<SourceEntry> {
        recent(&self.ssrcs, now)
    }

    /// `getContributingSources()`: the CSRCs heard from in the last 10
    /// seconds, most recent first.
    pub fn contributing(&self, now: Instant) -> Vec<SourceEntry> {
        recent(&self.csrcs, now)
    }

    /// Entries held (memory bound checks).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ssrcs.len() + self.csrcs.len()
    }
}

fn is_recent(e: &SourceEntry, now: Instant) -> bool {
    now.saturating_duration_since(e.received) <= SOURCE_WINDOW
}

/// Replaces or adds `entry`; forgets what left the window, then the least
/// recent entries while more than `max` are held.
fn update(table: &mut Vec<SourceEntry>, max: usize, now: Instant, entry: SourceEntry) {
    // The common case, a stream of one source: its entry is the last one
    // already, and stays there. Entries before it that fell out of the
    // window go at the next other source's update (`recent` skips them).
    if let Some(last) = table.last_mut()
        && last.source == entry.source
    {
        *last = entry;
        return;
    }
    // Kept in the order of updates, so the sources of one packet keep
    // the order of its CSRC list.
    table.retain(|e| e.source != entry.source && is_recent(e, now));
    table.push(entry);
    if table.len() > max {
        // The least recent first: the table is in update order.
        let excess = table.len() - max;
        table.drain(..excess);
    }
}

/// The entries inside the window, most recent first; the CSRCs of one
/// packet in the order of its list.
fn recent(table: &[SourceEntry], now: Instant) -> Vec<SourceEntry> {
    let mut out: Vec<SourceEntry> = table
        .iter()
        .filter(|e| is_recent(e, now))
        .copied()
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.received));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrtc_rtp::extension::{AudioLevel, CsrcAudioLevels};
    use ferrtc_rtp::{Csrcs, PayloadType};

    const SSRC_LEVEL: u8 = 1;
    const CSRC_LEVEL: u8 = 5;

    fn ext() -> LevelExtensions {
        LevelExtensions {
            ssrc: ExtensionId::new(SSRC_LEVEL),
            csrc: ExtensionId::new(CSRC_LEVEL),
        }
    }

    /// A packet as a mixer writes it, through ferrtc-rtp's writer and
    /// parser: SSRC 0x55, the CSRCs, both level extensions.
    fn packet(ts: u32, csrcs: &[u32], ssrc_level: Option<u8>, csrc_levels: &[u8]) -> Vec<u8> {
        let mut p = RtpPacket::new(PayloadType::new(111).unwrap(), 9, ts, 0x55, &[1, 2, 3]);
        p.csrcs = Csrcs::from_slice(csrcs).unwrap();
        let level = ssrc_level.map(|l| AudioLevel::new(true, l).unwrap().write());
        if let Some(l) = &level {
            p.extensions
                .insert(ExtensionId::new(SSRC_LEVEL).unwrap(), l)
                .unwrap();
        }
        let levels = (!csrc_levels.is_empty())
            .then(|| CsrcAudioLevels::new(csrc_levels.to_vec()).unwrap().write());
        if let Some(l) = &levels {
            p.extensions
                .insert(ExtensionId::new(CSRC_LEVEL).unwrap(), l)
                .unwrap();
        }
        p.to_vec()
    }

    fn receive(s: &mut Sources, now: Instant, bytes: &[u8], ext: LevelExtensions) {
        s.on_packet(now, &RtpPacket::parse(bytes).unwrap(), ext);
    }

    #[test]
    fn levels_convert_as_the_w3c_says() {
        assert_eq!(linear_level(0), 1.0);
        assert!((linear_level(20) - 0.1).abs() < 1e-12);
        assert!((linear_level(6) - 0.501).abs() < 1e-3);
        assert_eq!(linear_level(127), 0.0, "127 is silence");
    }

    #[test]
    fn the_ssrc_and_csrcs_carry_timestamp_rtp_time_and_levels_by_index() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        receive(
            &mut s,
            t0,
            &packet(960, &[10, 20, 30], Some(20), &[0, 127]),
            ext(),
        );
        let ssrc = s.synchronization(t0);
        assert_eq!(
            ssrc,
            vec![SourceEntry {
                source: 0x55,
                received: t0,
                rtp_timestamp: 960,
                level: Some(20),
            }]
        );
        let csrc: Vec<_> = s
            .contributing(t0)
            .iter()
            .map(|e| (e.source, e.rtp_timestamp, e.level))
            .collect();
        // Three CSRCs, two levels: the third has none (RFC 6465 §3).
        assert_eq!(
            csrc,
            vec![(10, 960, Some(0)), (20, 960, Some(127)), (30, 960, None)]
        );
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let public = ssrc[0].to_public(|i| wall + i.duration_since(t0));
        assert_eq!(public.timestamp, wall);
        assert!((public.audio_level.unwrap() - 0.1).abs() < 1e-12);
    }

    #[test]
    fn without_negotiated_extensions_there_is_no_level() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        receive(
            &mut s,
            t0,
            &packet(0, &[10], Some(20), &[30]),
            LevelExtensions::default(),
        );
        assert_eq!(s.synchronization(t0)[0].level, None);
        assert_eq!(s.contributing(t0)[0].level, None);
        // A later packet without the element clears the level: it is the
        // level of the last packet.
        receive(&mut s, t0, &packet(0, &[], Some(3), &[]), ext());
        assert_eq!(s.synchronization(t0)[0].level, Some(3));
        receive(&mut s, t0, &packet(960, &[], None, &[]), ext());
        assert_eq!(s.synchronization(t0)[0].level, None);
    }

    #[test]
    fn sources_are_most_recent_first_and_gone_after_ten_seconds() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        receive(&mut s, t0, &packet(0, &[1, 2], None, &[]), ext());
        let t1 = t0 + Duration::from_secs(4);
        receive(&mut s, t1, &packet(4800, &[3, 1], None, &[]), ext());
        let order = |s: &Sources, now| -> Vec<u32> {
            s.contributing(now).iter().map(|e| e.source).collect()
        };
        assert_eq!(order(&s, t1), vec![3, 1, 2]);
        assert_eq!(order(&s, t0 + SOURCE_WINDOW), vec![3, 1, 2]);
        assert_eq!(
            order(&s, t0 + SOURCE_WINDOW + Duration::from_millis(1)),
            vec![3, 1],
            "2 was last heard 10 s ago"
        );
        assert_eq!(
            order(&s, t1 + SOURCE_WINDOW + Duration::from_millis(1)),
            Vec::<u32>::new()
        );
        assert!(s.synchronization(t1 + Duration::from_secs(11)).is_empty());
    }

    #[test]
    fn the_tables_are_bounded_and_evict_the_least_recent() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        // 40 packets of 15 new CSRCs each, 1 ms apart.
        for i in 0..40u32 {
            let csrcs: Vec<u32> = (0..15).map(|j| i * 15 + j).collect();
            let now = t0 + Duration::from_millis(u64::from(i));
            receive(&mut s, now, &packet(i, &csrcs, None, &[]), ext());
            assert!(s.csrcs.len() <= MAX_CONTRIBUTING_SOURCES);
        }
        let now = t0 + Duration::from_millis(39);
        let kept: Vec<u32> = s.contributing(now).iter().map(|e| e.source).collect();
        assert_eq!(kept.len(), MAX_CONTRIBUTING_SOURCES);
        // The last packet's 15, and one of the packet before.
        assert!((585..600).all(|c| kept.contains(&c)), "{kept:?}");
        assert!(kept.iter().all(|&c| c >= 570), "{kept:?}");
        assert!(s.len() <= MAX_CONTRIBUTING_SOURCES + MAX_SYNCHRONIZATION_SOURCES);
    }

    #[test]
    fn malformed_level_elements_are_no_level() {
        let mut p = RtpPacket::new(PayloadType::new(111).unwrap(), 1, 0, 0x55, &[1]);
        p.csrcs = Csrcs::from_slice(&[7]).unwrap();
        // An empty CSRC level element (RFC 6465 wants one byte per CSRC);
        // two-byte form allows a zero-length element.
        p.extensions
            .insert(ExtensionId::new(CSRC_LEVEL).unwrap(), &[])
            .unwrap();
        let bytes = p.to_vec();
        let mut s = Sources::default();
        let t0 = Instant::now();
        receive(&mut s, t0, &bytes, ext());
        assert_eq!(s.contributing(t0)[0].level, None);
        assert_eq!(s.synchronization(t0)[0].level, None);
    }
}
