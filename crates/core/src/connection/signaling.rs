//! Signaling: JSEP offer/answer (RFC 8829) and the W3C signaling state;
//! what a description changes in the transport (ICE credentials and
//! candidates, DTLS role, SCTP port and message size).

use std::time::Instant;

use ferrtc_jsep::{AnswerOptions, IceCredentials, OfferOptions, SdpType, SessionDescription};

use super::PeerConnection;
use super::transport::ice_at;
use crate::error::Error;
use crate::event::{Event, IceCandidateInit, SignalingState};

impl PeerConnection {
    /// `localDescription`.
    pub fn local_description(&self) -> Option<SessionDescription> {
        self.jsep.local_description()
    }

    /// `remoteDescription`.
    pub fn remote_description(&self) -> Option<SessionDescription> {
        self.jsep.remote_description()
    }

    /// `currentLocalDescription`.
    pub fn current_local_description(&self) -> Option<SessionDescription> {
        self.jsep.current_local_description()
    }

    /// `pendingLocalDescription`.
    pub fn pending_local_description(&self) -> Option<SessionDescription> {
        self.jsep.pending_local_description()
    }

    /// `currentRemoteDescription`.
    pub fn current_remote_description(&self) -> Option<SessionDescription> {
        self.jsep.current_remote_description()
    }

    /// `pendingRemoteDescription`.
    pub fn pending_remote_description(&self) -> Option<SessionDescription> {
        self.jsep.pending_remote_description()
    }

    /// `createOffer` (RFC 8829 §5.2); after `restart_ice` it carries new
    /// ICE credentials (§5.2.1 `iceRestart`).
    pub fn create_offer(&mut self) -> Result<SessionDescription, Error> {
        self.check_open()?;
        // W3C webrtc-identity §9.3: with an IdP, the offer carries our
        // assertion (a=identity), and fails if the IdP does.
        self.ensure_assertion()?;
        let ice_restart = if self.restart_pending {
            Some(self.jsep_credentials())
        } else if self.restart_wanted {
            Some(self.drawn_restart_credentials())
        } else {
            None
        };
        let options = OfferOptions { ice_restart };
        Ok(self.jsep.create_offer(options)?)
    }

    /// `createAnswer` (RFC 8829 §5.3); answers an ICE restart with the new
    /// local credentials (§5.3.1).
    pub fn create_answer(&mut self) -> Result<SessionDescription, Error> {
        self.check_open()?;
        self.ensure_assertion()?;
        let options = AnswerOptions {
            ice_credentials: self
                .jsep
                .remote_ice_restart()
                .then(|| self.restart_answer_credentials()),
        };
        Ok(self.jsep.create_answer(options)?)
    }

    /// `restartIce()` (W3C webrtc-pc §4.4.1.6, RFC 8445 §9): new local ICE
    /// credentials and a fresh gathering; the current pair keeps carrying
    /// data until the new one is selected. Fires `negotiationneeded` (in
    /// stable, and only if none is signalled already; outside stable once
    /// the session returns to it): the next offer restarts ICE on both
    /// sides.
    pub fn restart_ice(&mut self, now: Instant) -> Result<(), Error> {
        self.check_open()?;
        if ice_at(&mut self.ice, now).is_none() {
            // Nothing negotiated yet: the first offer starts fresh anyway.
            return Ok(());
        }
        // What the agent did up to now (candidates, a selection) is of the
        // generation before: it goes out under those credentials.
        self.process_ice();
        let Some(ice) = self.ice.as_mut() else {
            return Ok(());
        };
        // A policy changed by setConfiguration applies from this gathering.
        ice.set_relay_only(self.config.ice.relay_only);
        ice.restart(now)?;
        self.remote_generation = self.remote_generations.reserve();
        // A restart made ahead and not offered yet is replaced: the
        // candidates held for it belong to credentials no description
        // will carry (RFC 8838 §4.1: a candidate goes with its ufrag).
        self.held_candidates.clear();
        self.credentials = ice.local_credentials().clone();
        self.local_generation = self.local_generations.number(self.credentials.ufrag());
        self.restart_pending = true;
        // W3C restartIce() ends in "update the negotiation-needed flag"
        // (webrtc-pc §4.7.3): the event fires now in stable unless a need
        // is signalled already, else once the session is back in stable.
        self.check_negotiation_needed();
        self.process(now);
        Ok(())
    }

    pub(super) fn jsep_credentials(&self) -> IceCredentials {
        IceCredentials::new(self.credentials.ufrag(), self.credentials.pwd())
    }

    /// `setLocalDescription`; `None` is the parameterless form, which
    /// creates and applies an offer or an answer as the state requires.
    pub fn set_local_description(
        &mut self,
        now: Instant,
        desc: Option<SessionDescription>,
    ) -> Result<(), Error> {
        self.check_open()?;
        // W3C webrtc-pc §4.4.1.5: an offer or answer with an empty `sdp` is
        // the parameterless form.
        let desc = match desc {
            Some(d) if !d.sdp.is_empty() || d.kind == SdpType::Rollback => d,
            _ => match self.jsep.signaling_state() {
                SignalingState::HaveRemoteOffer | SignalingState::HaveLocalPranswer => {
                    self.create_answer()?
                }
                _ => self.create_offer()?,
            },
        };
        let kind = desc.kind;
        let answers_restart = kind == SdpType::Answer && self.jsep.remote_ice_restart();
        let credentials_before = self.jsep.local_ice_credentials().clone();
        self.jsep.set_local_description(desc)?;
        // An offer that carries new credentials: a restart's (one created
        // before `restart_ice()` does not carry it).
        let restart_offer = kind == SdpType::Offer
            && *self.jsep.local_ice_credentials() != credentials_before
            && (self.restart_pending || self.restart_wanted);
        // W3C webrtc-pc §4.4.1.6: a restart is done once an answer commits
        // new local credentials; its offer rolled back, it is still needed.
        match kind {
            SdpType::Offer if restart_offer => {
                self.restart_offered = true;
                self.restart_wanted = false;
            }
            SdpType::Answer if answers_restart => self.restart_wanted = false,
            SdpType::Rollback => self.restart_wanted |= std::mem::take(&mut self.restart_offered),
            _ => {}
        }
        let released = restart_offer && std::mem::take(&mut self.restart_pending);
        if released {
            self.events.extend(self.held_candidates.drain(..));
        }
        if kind != SdpType::Rollback {
            self.ensure_ice(now, kind == SdpType::Offer);
            self.note_local_mid();
            self.start_gathering(now)?;
        }
        self.sync_ice(now, false)?;
        self.after_signaling(now);
        Ok(())
    }

    /// `setRemoteDescription`. Candidates in the SDP are used, as is
    /// `a=end-of-candidates`. A session-level `a=identity` is validated
    /// first (W3C webrtc-identity §9.5): with a target peer identity
    /// ([`Config::peer_identity`](crate::Config::peer_identity)) a
    /// description without a valid one is refused with an `OperationError`
    /// and nothing changes; see
    /// [`peer_identity`](Self::peer_identity).
    pub fn set_remote_description(
        &mut self,
        now: Instant,
        desc: SessionDescription,
    ) -> Result<(), Error> {
        self.check_open()?;
        let kind = desc.kind;
        self.check_remote_fingerprints(&desc)?;
        let identity = self.check_remote_identity(&desc)?;
        let before = self.jsep.clone();
        // An offer in have-local-offer rolls ours back first (W3C implicit
        // rollback).
        let rolls_back =
            kind == SdpType::Offer && before.signaling_state() == SignalingState::HaveLocalOffer;
        self.jsep.set_remote_description(desc)?;
        // What ICE would refuse is refused before anything else changes.
        if let Err(e) = self.check_remote_ice() {
            self.jsep = before;
            return Err(e);
        }
        if rolls_back {
            self.restart_wanted |= std::mem::take(&mut self.restart_offered);
        }
        if kind == SdpType::Answer {
            self.restart_offered = false;
        }
        self.apply_remote_identity(identity);
        if kind != SdpType::Rollback {
            self.ensure_ice(now, kind != SdpType::Offer);
        }
        self.sync_ice(now, kind != SdpType::Rollback)?;
        self.after_signaling(now);
        Ok(())
    }

    /// `addIceCandidate`; an empty `candidate` means end of candidates.
    /// Candidates the agent cannot use (mDNS `.local` names, TCP) are
    /// accepted and ignored, as browsers do: the peer's checks still reach
    /// us and are answered through peer-reflexive discovery.
    pub fn add_ice_candidate(
        &mut self,
        now: Instant,
        candidate: &IceCandidateInit,
    ) -> Result<(), Error> {
        self.check_open()?;
        let added = self.jsep.add_ice_candidate(candidate)?;
        let Some(ice) = self.ice_for_remote_candidates(now) else {
            return Ok(());
        };
        match added {
            None => ice.end_of_remote_candidates(),
            Some((_mid, c)) => match ice.add_remote_candidate(c) {
                Ok(()) => {}
                Err(ferrtc_ice::Error::UnsupportedCandidate(why)) => {
                    tracing::debug!("remote candidate ignored: {why}");
                }
                Err(e) => return Err(e.into()),
            },
        }
        self.process(now);
        Ok(())
    }

    /// The mid and index candidates are signalled with: the first
    /// m-section, which carries the bundle transport.
    pub(super) fn note_local_mid(&mut self) {
        let Some(local) = self.jsep.local_description() else {
            return;
        };
        if let Ok(sdp) = local.sdp.parse::<ferrtc_sdp::SessionDescription>()
            && let Some((i, m)) = sdp.media.iter().enumerate().find(|(_, m)| !m.is_rejected())
            && let Some(mid) = m.mid()
        {
            self.candidate_mid = mid.to_owned();
            self.candidate_index = u16::try_from(i).unwrap_or(0);
        }
    }

    /// After any description: states, negotiation-needed, transports.
    pub(super) fn after_signaling(&mut self, now: Instant) {
        let state = self.jsep.signaling_state();
        if state != self.signaling {
            self.signaling = state;
            self.events.push_back(Event::SignalingStateChange(state));
            if state == SignalingState::Stable {
                self.negotiation_needed = false;
            }
        }
        self.check_negotiation_needed();
        let remote = self.jsep.remote_sdp();
        self.media.sync(
            &self.config.media,
            self.jsep.transceivers(),
            remote.as_ref(),
            &mut self.rng,
        );
        if let Some(t) = self.jsep.transport() {
            self.dtls_role = Some(t.dtls_role);
            self.channels.set_role(now, t.dtls_role);
            if let Some(sctp) = &t.sctp {
                self.sctp_remote_port = sctp.remote_port;
                self.remote_max_message_size =
                    usize::try_from(sctp.remote_max_message_size).unwrap_or(usize::MAX);
                // RFC 8841 §6.1: 0 means "any size"; keep our own bound.
                if self.remote_max_message_size == 0 {
                    self.remote_max_message_size = self.config.max_message_size;
                }
                let max = self.max_message_size();
                self.channels.set_max_message_size(max);
            }
        }
        self.process(now);
    }

    /// W3C webrtc-pc §4.7.3: fire `negotiationneeded` once per need, in
    /// stable. A `restartIce()` not yet carried by an offer is a need
    /// ("check if negotiation is needed": `[[LocalIceCredentialsToReplace]]`
    /// is not empty), so one made outside stable fires when the session
    /// returns to it.
    ///
    /// "Update the negotiation-needed flag": outside stable it waits; a need
    /// that went away clears the flag, so the next need fires again.
    pub(super) fn check_negotiation_needed(&mut self) {
        if self.signaling != SignalingState::Stable {
            return;
        }
        let needed =
            self.restart_pending || self.restart_wanted || self.jsep.is_negotiation_needed();
        if !needed {
            // The queued event's task would find nothing needed and not
            // fire: it goes with the flag.
            if std::mem::take(&mut self.negotiation_needed) {
                self.events.retain(|e| *e != Event::NegotiationNeeded);
            }
        } else if !self.negotiation_needed {
            self.negotiation_needed = true;
            self.events.push_back(Event::NegotiationNeeded);
        }
    }
}
