//! The SRTP cryptographic context (RFC 3711 §3.2): session keys of one master
//! key and the per-SSRC state (rollover counters, SRTCP indices, replay windows).

use crate::header::{RTCP_CLEAR_HEADER, parse_rtcp, parse_rtp};
use crate::index::RolloverState;
use crate::kdf::Kdf;
use crate::replay::{MAX_WINDOW, MIN_WINDOW, Rejection, ReplayWindow};
use crate::transform::{E_FLAG, Protocol, SRTCP_TRAILER, Transform};
use crate::{Error, ProtectionProfile, SsrcMap};

/// Largest SRTCP index: the index is 31 bits (RFC 3711 §3.4).
const MAX_SRTCP_INDEX: u32 = E_FLAG - 1;

/// Settings of a [`Context`] other than the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// SRTP replay window in packets (RFC 3711 §3.3.2), 64..=32768. Default 128
    /// (libsrtp's default); WebRTC video senders that retransmit late may want 1024.
    pub replay_window: u32,
    /// SRTCP replay window in packets, 64..=32768. Default 128.
    pub rtcp_replay_window: u32,
    /// Most SSRCs tracked per direction and protocol; a packet from one more
    /// fails with [`Error::TooManyStreams`]. Default 1024.
    pub max_streams: usize,
    /// Whether a packet from a new SSRC creates its stream state (ROC 0, as in
    /// DTLS-SRTP). When false, only SSRCs declared with
    /// [`Context::add_inbound_stream`] are unprotected; others give
    /// [`Error::UnknownSsrc`]. Default true.
    pub accept_unknown_ssrc: bool,
    /// Whether `protect_rtcp` encrypts (sets the SRTCP E flag). Received packets
    /// are processed as their E flag says either way. Default true.
    pub encrypt_rtcp: bool,
}

impl Config {
    /// Sets [`Config::replay_window`].
    pub fn with_replay_window(mut self, packets: u32) -> Self {
        self.replay_window = packets;
        self
    }

    /// Sets [`Config::rtcp_replay_window`].
    pub fn with_rtcp_replay_window(mut self, packets: u32) -> Self {
        self.rtcp_replay_window = packets;
        self
    }

    /// Sets [`Config::max_streams`].
    pub fn with_max_streams(mut self, max_streams: usize) -> Self {
        self.max_streams = max_streams;
        self
    }

    /// Sets [`Config::accept_unknown_ssrc`].
    pub fn with_accept_unknown_ssrc(mut self, accept: bool) -> Self {
        self.accept_unknown_ssrc = accept;
        self
    }

    /// Sets [`Config::encrypt_rtcp`].
    pub fn with_encrypt_rtcp(mut self, encrypt: bool) -> Self {
        self.encrypt_rtcp = encrypt;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            replay_window: 128,
            rtcp_replay_window: 128,
            max_streams: 1024,
            accept_unknown_ssrc: true,
            encrypt_rtcp: true,
        }
    }
}

/// Receive state of one SSRC's SRTP stream.
#[derive(Debug)]
enum InboundRtp {
    /// Declared with a known ROC; the first packet will set s_l (RFC 3711 §3.3.1).
    Declared { roc: u32 },
    /// At least one packet authenticated.
    Active {
        rollover: RolloverState,
        window: ReplayWindow,
    },
}

/// An SRTP/SRTCP cryptographic context for one master key (RFC 3711 §3.2).
///
/// Use one context per direction: with DTLS-SRTP, one made from the local
/// ("write") master key for [`protect_rtp`](Self::protect_rtp) /
/// [`protect_rtcp`](Self::protect_rtcp), and one from the remote key for the
/// `unprotect_*` calls. Streams (SSRCs) are created on their first packet.
///
/// Nothing allocates per packet: `protect_*` append the tag to the caller's
/// `Vec` (reserve [`ProtectionProfile::rtp_overhead`] /
/// [`ProtectionProfile::rtcp_overhead`] spare capacity so it never grows), and
/// `unprotect_*` work in place. Per-SSRC state is allocated once per new SSRC.
///
/// ```
/// use ferrtc_srtp::{Config, Context, ProtectionProfile};
///
/// let profile = ProtectionProfile::AeadAes128Gcm;
/// let (key, salt) = ([7u8; 16], [9u8; 12]);
/// let mut sender = Context::new(profile, &key, &salt, Config::default())?;
/// let mut receiver = Context::new(profile, &key, &salt, Config::default())?;
///
/// let rtp = [0x80, 96, 0x00, 0x01, 0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78, b'h', b'i'];
/// let mut packet = Vec::with_capacity(rtp.len() + profile.rtp_overhead());
/// packet.extend_from_slice(&rtp);
/// sender.protect_rtp(&mut packet)?;
/// assert_eq!(packet.len(), rtp.len() + 16);
///
/// let len = receiver.unprotect_rtp(&mut packet)?;
/// assert_eq!(&packet[..len], &rtp[..]);
/// // The same packet again is a replay.
/// assert!(receiver.unprotect_rtp(&mut packet.clone()).is_err());
/// # Ok::<(), ferrtc_srtp::Error>(())
/// ```
#[doc(alias = "cryptographic context")]
pub struct Context {
    profile: ProtectionProfile,
    config: Config,
    rtp: Transform,
    rtcp: Transform,
    pub(crate) outbound_rtp: SsrcMap<RolloverState>,
    pub(crate) outbound_rtcp: SsrcMap<u32>,
    inbound_rtp: SsrcMap<InboundRtp>,
    inbound_rtcp: SsrcMap<ReplayWindow>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Context")
            .field("profile", &self.profile)
            .field("config", &self.config)
            .field("outbound_rtp_streams", &self.outbound_rtp.len())
            .field("inbound_rtp_streams", &self.inbound_rtp.len())
            .finish_non_exhaustive()
    }
}

fn check_window(size: u32) -> Result<(), Error> {
    if (MIN_WINDOW..=MAX_WINDOW).contains(&size) {
        Ok(())
    } else {
        Err(Error::InvalidReplayWindow { size })
    }
}

fn rejection(r: Rejection, ssrc: u32, index: u64) -> Error {
    match r {
        Rejection::Replayed => Error::ReplayedPacket { ssrc, index },
        Rejection::TooOld => Error::TooOld { ssrc, index },
    }
}

impl Context {
    /// Derives the SRTP and SRTCP session keys (RFC 3711 §4.3, key derivation
    /// rate 0) from a master key and master salt of the profile's lengths.
    pub fn new(
        profile: ProtectionProfile,
        master_key: &[u8],
        master_salt: &[u8],
        config: Config,
    ) -> Result<Self, Error> {
        if master_key.len() != profile.master_key_len() {
            return Err(Error::InvalidKeyLength {
                profile,
                expected: profile.master_key_len(),
                actual: master_key.len(),
            });
        }
        if master_salt.len() != profile.master_salt_len() {
            return Err(Error::InvalidSaltLength {
                profile,
                expected: profile.master_salt_len(),
                actual: master_salt.len(),
            });
        }
        check_window(config.replay_window)?;
        check_window(config.rtcp_replay_window)?;
        let kdf = Kdf::new(master_key, master_salt)?;
        Ok(Self {
            profile,
            rtp: Transform::new(profile, &kdf, Protocol::Srtp)?,
            rtcp: Transform::new(profile, &kdf, Protocol::Srtcp)?,
            config,
            outbound_rtp: SsrcMap::default(),
            outbound_rtcp: SsrcMap::default(),
            inbound_rtp: SsrcMap::default(),
            inbound_rtcp: SsrcMap::default(),
        })
    }

    /// The protection profile of this context.
    pub fn profile(&self) -> ProtectionProfile {
        self.profile
    }

    /// The configuration this context was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Declares an inbound SSRC whose rollover counter is known (for example
    /// when joining a stream late, RFC 3711 §3.3.1); replaces any state it had.
    pub fn add_inbound_stream(&mut self, ssrc: u32, roc: u32) -> Result<(), Error> {
        if !self.inbound_rtp.contains_key(&ssrc)
            && self.inbound_rtp.len() >= self.config.max_streams
        {
            return Err(Error::TooManyStreams {
                limit: self.config.max_streams,
            });
        }
        self.inbound_rtp.insert(ssrc, InboundRtp::Declared { roc });
        Ok(())
    }

    /// Forgets all state of `ssrc` (both directions, SRTP and SRTCP), for
    /// example after an RTCP BYE.
    pub fn remove_stream(&mut self, ssrc: u32) {
        self.outbound_rtp.remove(&ssrc);
        self.outbound_rtcp.remove(&ssrc);
        self.inbound_rtp.remove(&ssrc);
        self.inbound_rtcp.remove(&ssrc);
    }

    /// The rollover counter of the highest packet received from `ssrc`, if any.
    pub fn inbound_roc(&self, ssrc: u32) -> Option<u32> {
        match self.inbound_rtp.get(&ssrc)? {
            InboundRtp::Declared { roc } => Some(*roc),
            InboundRtp::Active { rollover, .. } => Some(rollover.roc),
        }
    }

    /// The rollover counter of the highest packet sent on `ssrc`, if any.
    pub fn outbound_roc(&self, ssrc: u32) -> Option<u32> {
        self.outbound_rtp.get(&ssrc).map(|s| s.roc)
    }

    /// Protects an RTP packet in place (RFC 3711 §3.3, RFC 7714 §8): encrypts
    /// the payload, leaves the header (CSRCs, extension) in the clear but
    /// authenticated, and appends the tag ([`ProtectionProfile::rtp_overhead`] bytes).
    ///
    /// Sending the same sequence number again (a retransmission) reuses its
    /// index, which is safe only for identical packets.
    pub fn protect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), Error> {
        let header = parse_rtp(packet, packet.len())?;
        let stream = match self.outbound_rtp.get_mut(&header.ssrc) {
            Some(s) => s,
            None => {
                if self.outbound_rtp.len() >= self.config.max_streams {
                    return Err(Error::TooManyStreams {
                        limit: self.config.max_streams,
                    });
                }
                self.outbound_rtp
                    .entry(header.ssrc)
                    .or_insert(RolloverState {
                        roc: 0,
                        highest_seq: header.seq,
                    })
            }
        };
        let index = stream
            .estimate(header.seq)
            .map_err(|_| Error::KeyLifetimeExceeded { ssrc: header.ssrc })?;
        self.rtp
            .protect_rtp(packet, header.len, header.ssrc, index)?;
        stream.update(index);
        Ok(())
    }

    /// Unprotects an SRTP packet in place (RFC 3711 §3.3): estimates its index,
    /// rejects replays, verifies the tag, then decrypts. Returns the length of
    /// the RTP packet now at the start of `packet`.
    ///
    /// On error the packet must be dropped; its bytes may have been changed.
    pub fn unprotect_rtp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let tag_len = self.rtp.tag_len();
        let header = parse_rtp(packet, packet.len().saturating_sub(tag_len))?;
        let ssrc = header.ssrc;
        let streams = self.inbound_rtp.len();
        // A stream already authenticated (every packet but its first): one
        // lookup, the state updated in place once the packet authenticates.
        let index = match self.inbound_rtp.get_mut(&ssrc) {
            Some(InboundRtp::Active { rollover, window }) => {
                let index = rollover
                    .estimate(header.seq)
                    .map_err(|_| Error::KeyLifetimeExceeded { ssrc })?;
                window.check(index).map_err(|r| rejection(r, ssrc, index))?;
                let len = self.rtp.unprotect_rtp(packet, header.len, ssrc, index)?;
                // Only an authenticated packet changes the stream state.
                rollover.update(index);
                window.accept(index);
                return Ok(len);
            }
            // RFC 3711 §3.3.1: a new stream starts with ROC 0 (or a declared
            // ROC) and s_l = SEQ of its first packet.
            Some(InboundRtp::Declared { roc }) => (u64::from(*roc) << 16) | u64::from(header.seq),
            None if !self.config.accept_unknown_ssrc => return Err(Error::UnknownSsrc { ssrc }),
            None if streams >= self.config.max_streams => {
                return Err(Error::TooManyStreams {
                    limit: self.config.max_streams,
                });
            }
            None => u64::from(header.seq),
        };
        let len = self.rtp.unprotect_rtp(packet, header.len, ssrc, index)?;
        // The stream's first authenticated packet starts its state.
        self.inbound_rtp.insert(
            ssrc,
            InboundRtp::Active {
                rollover: RolloverState {
                    roc: (index >> 16) as u32,
                    highest_seq: header.seq,
                },
                window: ReplayWindow::new(self.config.replay_window, index),
            },
        );
        Ok(len)
    }

    /// Protects a (compound) RTCP packet in place (RFC 3711 §3.4, RFC 7714 §9):
    /// encrypts everything after the first 8 bytes unless
    /// [`Config::encrypt_rtcp`] is false, then appends the E flag, the 31-bit
    /// SRTCP index and the tag ([`ProtectionProfile::rtcp_overhead`] bytes).
    ///
    /// Fails with [`Error::KeyLifetimeExceeded`] after 2^31 packets of one SSRC.
    pub fn protect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), Error> {
        let ssrc = parse_rtcp(packet, RTCP_CLEAR_HEADER)?;
        let next = match self.outbound_rtcp.get_mut(&ssrc) {
            Some(n) => n,
            None => {
                if self.outbound_rtcp.len() >= self.config.max_streams {
                    return Err(Error::TooManyStreams {
                        limit: self.config.max_streams,
                    });
                }
                // RFC 3711 §3.4: the SRTCP index starts at zero.
                self.outbound_rtcp.entry(ssrc).or_insert(0)
            }
        };
        let index = *next;
        if index > MAX_SRTCP_INDEX {
            return Err(Error::KeyLifetimeExceeded { ssrc });
        }
        self.rtcp
            .protect_rtcp(packet, ssrc, index, self.config.encrypt_rtcp)?;
        *next = index + 1;
        Ok(())
    }

    /// Unprotects an SRTCP packet in place: rejects replays of its SRTCP index,
    /// verifies the tag, decrypts if the E flag is set. Returns the length of
    /// the RTCP packet now at the start of `packet`.
    ///
    /// On error the packet must be dropped; its bytes may have been changed.
    pub fn unprotect_rtcp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let overhead = self.rtcp.tag_len() + SRTCP_TRAILER;
        let ssrc = parse_rtcp(packet, RTCP_CLEAR_HEADER + overhead)?;
        let at = self.rtcp.rtcp_trailer_offset(packet.len());
        let trailer = match packet.get(at..at + SRTCP_TRAILER) {
            Some(t) => u32::from_be_bytes([t[0], t[1], t[2], t[3]]),
            None => {
                return Err(Error::TooShort {
                    len: packet.len(),
                    needed: RTCP_CLEAR_HEADER + overhead,
                });
            }
        };
        let index = u64::from(trailer & !E_FLAG);
        match self.inbound_rtcp.get(&ssrc) {
            Some(window) => window.check(index).map_err(|r| rejection(r, ssrc, index))?,
            None if !self.config.accept_unknown_ssrc && !self.inbound_rtp.contains_key(&ssrc) => {
                return Err(Error::UnknownSsrc { ssrc });
            }
            None if self.inbound_rtcp.len() >= self.config.max_streams => {
                return Err(Error::TooManyStreams {
                    limit: self.config.max_streams,
                });
            }
            None => {}
        }
        let len = self.rtcp.unprotect_rtcp(packet, ssrc, trailer)?;
        match self.inbound_rtcp.get_mut(&ssrc) {
            Some(window) => window.accept(index),
            None => {
                self.inbound_rtcp.insert(
                    ssrc,
                    ReplayWindow::new(self.config.rtcp_replay_window, index),
                );
            }
        }
        Ok(len)
    }
}
