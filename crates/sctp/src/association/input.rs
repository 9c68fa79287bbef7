//! Received packets: checksum, verification tag, chunk dispatch.

use std::time::Instant;

use super::*;

impl Association {
    /// Feeds one received SCTP packet (one DTLS application-data record).
    ///
    /// An `Err` means the packet was dropped (and counted) or the peer
    /// broke a rule and the association was aborted; the association stays
    /// usable in the first case.
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.touch(now);
        let r = self.receive(now, packet);
        match &r {
            Ok(()) => self.stats.packets_received += 1,
            Err(Error::ProtocolViolation(_) | Error::MessageTooLarge { .. }) => {
                if let Err(e) = &r {
                    self.protocol_abort(e.clone());
                }
            }
            Err(_) => self.stats.packets_dropped += 1,
        }
        r
    }

    fn receive(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        let (header, body) = chunk::parse_header(packet)?;
        if self.state == AssociationState::Terminated {
            // Out of the blue SHUTDOWN-ACK (RFC 9260 §8.4 item 5): our
            // SHUTDOWN-COMPLETE was lost; answer with the T bit set.
            let first = chunk::chunks(body).next().and_then(|c| c.ok());
            if first.is_some_and(|c| c.ty == ty::SHUTDOWN_ACK)
                && crc::compute(packet) == crc::read(packet)
                && header.verification_tag == self.local_tag
            {
                self.push_control(Control::ShutdownComplete {
                    tag: header.verification_tag,
                    reflect: true,
                });
                return Ok(());
            }
            return Err(Error::InvalidState(self.state));
        }
        let found = crc::read(packet);
        // RFC 9653 §5: a receiver that announced zero-checksum acceptance
        // accepts a zero checksum field without computing the CRC.
        if !(found == 0 && self.config.zero_checksum) {
            let computed = crc::compute(packet);
            if computed != found {
                return Err(Error::BadChecksum { found, computed });
            }
        }
        if header.dst_port != self.config.local_port || header.src_port != self.config.remote_port {
            return Err(Error::ProtocolViolation("wrong SCTP port"));
        }
        let first = chunk::chunks(body).next().ok_or(Error::Truncated {
            what: "packet without chunks",
            len: packet.len(),
            needed: 16,
        })??;
        self.check_tag(&header, &first)?;
        let gaps_before = self.est.as_ref().is_some_and(|e| e.receiver.has_gaps());
        let mut saw_data = false;
        for c in chunk::chunks(body) {
            let c = c?;
            if c.ty == ty::DATA || c.ty == ty::I_DATA {
                saw_data = true;
            }
            if !self.handle_chunk(now, &header, c)? {
                break;
            }
            if self.state == AssociationState::Terminated {
                break;
            }
        }
        if saw_data && self.state != AssociationState::Terminated {
            self.after_data(now, gaps_before);
        }
        Ok(())
    }

    /// Verification tag rules (RFC 9260 §8.5, §8.5.1).
    fn check_tag(&self, h: &CommonHeader, first: &chunk::RawChunk<'_>) -> Result<(), Error> {
        let v = h.verification_tag;
        let ok = match first.ty {
            ty::INIT => v == 0,
            ty::ABORT | ty::SHUTDOWN_COMPLETE if first.flags & flag::T != 0 => {
                v == self.peer_tag && self.peer_tag != 0
            }
            ty::ABORT | ty::SHUTDOWN_COMPLETE => v == self.local_tag,
            ty::SHUTDOWN_ACK if self.state == AssociationState::Closed => true,
            _ => v == self.local_tag,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::BadVerificationTag {
                found: v,
                expected: self.local_tag,
            })
        }
    }

    /// SACK timing after a packet with DATA (RFC 9260 §6.2): every second
    /// packet, at once on gaps or duplicates, else after the delay.
    ///
    /// `gaps_before`: there were gaps before this packet. A packet that
    /// fills the last gap is acknowledged at once too: it is typically the
    /// sender's fast retransmission, which the sender's T3-rtx (restarted
    /// when it went, §7.2.4 step 4) gives about one round trip; delaying
    /// its SACK by the delayed-ack time made T3-rtx expire, and cwnd
    /// collapse to one MTU, after nearly every repaired loss (RFC 9260
    /// §6.7: every packet is acknowledged at once while gaps are reported;
    /// TCP likewise acknowledges a segment that fills a gap at once,
    /// RFC 5681 §4.2).
    fn after_data(&mut self, now: Instant, gaps_before: bool) {
        self.packets_unacked += 1;
        let gaps = self.est.as_ref().is_some_and(|e| e.receiver.has_gaps());
        if gaps || gaps_before || self.packets_unacked >= 2 {
            self.sack_now = true;
        } else if self.sack_deadline.is_none() {
            self.sack_deadline = Some(now + self.config.delayed_ack);
        }
    }

    /// Handles one chunk; returns `false` to stop processing the packet.
    fn handle_chunk(
        &mut self,
        now: Instant,
        h: &CommonHeader,
        c: chunk::RawChunk<'_>,
    ) -> Result<bool, Error> {
        match c.ty {
            // RFC 8260 §2.2: once I-DATA is negotiated, DATA is a violation, and vice versa.
            ty::DATA if self.i_data_in_use() && self.est.is_some() => {
                return Err(Error::ProtocolViolation(
                    "DATA chunk after I-DATA was negotiated",
                ));
            }
            ty::I_DATA if !self.i_data_in_use() => {
                return Err(Error::ProtocolViolation("I-DATA chunk without negotiation"));
            }
            ty::DATA | ty::I_DATA => self.on_data(now, c.ty, c.flags, c.value)?,
            ty::SACK => self.on_sack(now, c.value)?,
            ty::INIT => {
                self.on_init(now, c.value)?;
                return Ok(false);
            }
            ty::INIT_ACK => {
                self.on_init_ack(now, c.value)?;
                return Ok(false);
            }
            ty::COOKIE_ECHO => self.on_cookie_echo(now, c.value)?,
            ty::COOKIE_ACK => self.on_cookie_ack(now),
            ty::HEARTBEAT => {
                if matches!(
                    self.state,
                    AssociationState::Closed | AssociationState::CookieWait
                ) {
                    return Ok(true);
                }
                self.push_control(Control::HeartbeatAck(c.value.to_vec()));
            }
            ty::HEARTBEAT_ACK => self.on_heartbeat_ack(now, c.value),
            ty::ABORT => {
                let code = chunk::Tlvs::new(c.value, "error cause")
                    .next()
                    .and_then(|r| r.ok())
                    .map(|t| t.head);
                self.control.clear();
                self.terminate(CloseReason::AbortedByPeer { cause: code });
                return Ok(false);
            }
            ty::ERROR => {
                if let Some(cause) = chunk::Tlvs::new(c.value, "error cause").flatten().next() {
                    self.events.push_back(Event::PeerError(cause.head));
                }
            }
            ty::SHUTDOWN => self.on_shutdown(now, c.value)?,
            ty::SHUTDOWN_ACK => self.on_shutdown_ack(h),
            ty::SHUTDOWN_COMPLETE => {
                if self.state == AssociationState::ShutdownAckSent {
                    self.terminate(CloseReason::Shutdown);
                }
                return Ok(false);
            }
            ty::I_FORWARD_TSN => {
                let f = chunk::IForwardTsn::parse(c.value)?;
                if let Some(e) = self.est.as_mut() {
                    e.receiver.handle_iforward_tsn(&f, &mut self.events);
                    self.sack_now = true;
                    self.check_deferred_reset()?;
                }
            }
            ty::FORWARD_TSN => {
                let f = ForwardTsn::parse(c.value)?;
                if let Some(e) = self.est.as_mut() {
                    e.receiver.handle_forward_tsn(&f, &mut self.events);
                    self.sack_now = true;
                    self.check_deferred_reset()?;
                }
            }
            ty::RE_CONFIG => self.on_reconfig(now, c.value)?,
            other => {
                // RFC 9260 §3.2: the two high bits of an unknown type say what to do.
                self.stats.chunks_ignored += 1;
                if other & 0x40 != 0 {
                    let mut causes = Vec::new();
                    let mut whole = Vec::with_capacity(c.value.len() + 4);
                    whole.extend_from_slice(&[c.ty, c.flags]);
                    whole.extend_from_slice(&((c.value.len() + 4) as u16).to_be_bytes());
                    whole.extend_from_slice(c.value);
                    let room = self.config.mtu.saturating_sub(40);
                    whole.truncate(room);
                    chunk::write_cause(&mut causes, cause::UNRECOGNIZED_CHUNK, &whole);
                    self.push_control(Control::Error(causes));
                }
                if other & 0x80 == 0 {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    fn on_data(&mut self, _now: Instant, ty: u8, flags: u8, value: &[u8]) -> Result<(), Error> {
        if !matches!(
            self.state,
            AssociationState::Established
                | AssociationState::ShutdownPending
                | AssociationState::ShutdownSent
        ) {
            return Ok(());
        }
        let (outcome, stream) = {
            let Some(e) = self.est.as_mut() else {
                return Ok(());
            };
            if ty == chunk::ty::I_DATA {
                let d = chunk::IData::parse(flags, value)?;
                (e.receiver.handle_idata(&d, &mut self.events)?, d.stream)
            } else {
                let d = Data::parse(flags, value)?;
                (e.receiver.handle_data(&d, &mut self.events)?, d.stream)
            }
        };
        self.stats.data_chunks_received += 1;
        match outcome {
            DataOutcome::Accepted => {}
            DataOutcome::Duplicate => {
                self.stats.duplicate_chunks_received += 1;
                self.sack_now = true;
            }
            DataOutcome::Dropped => {
                self.stats.data_chunks_dropped += 1;
                self.sack_now = true;
            }
            DataOutcome::InvalidStream => {
                let mut causes = Vec::new();
                let mut v = [0u8; 4];
                v[..2].copy_from_slice(&stream.to_be_bytes());
                chunk::write_cause(&mut causes, cause::INVALID_STREAM, &v);
                self.push_control(Control::Error(causes));
            }
        }
        self.check_deferred_reset()
    }

    fn on_sack(&mut self, now: Instant, value: &[u8]) -> Result<(), Error> {
        let sack = Sack::parse(value)?;
        let Some(e) = self.est.as_mut() else {
            return Ok(());
        };
        let out = e.sender.handle_sack(now, &sack, &mut self.stats);
        // RFC 9260 §8.1: reset each time a DATA chunk is acknowledged,
        // by a gap block too.
        if out.progress || out.acked {
            self.error_count = 0;
        }
        self.maybe_progress_shutdown(now);
        Ok(())
    }

    // ------------------------------------------------------------ setup

    fn init_params(&self, buf: &mut Vec<u8>) {
        let s = chunk::begin_param(buf, param::SUPPORTED_EXTENSIONS);
        buf.extend_from_slice(&[ty::RE_CONFIG, ty::FORWARD_TSN]);
        if self.config.i_data {
            buf.extend_from_slice(&[ty::I_DATA, ty::I_FORWARD_TSN]);
        }
        chunk::end_chunk(buf, s);
        let s = chunk::begin_param(buf, param::FORWARD_TSN_SUPPORTED);
        chunk::end_chunk(buf, s);
        if self.config.zero_checksum {
            let s = chunk::begin_param(buf, param::ZERO_CHECKSUM_ACCEPTABLE);
            buf.extend_from_slice(&EDMID_DTLS.to_be_bytes());
            chunk::end_chunk(buf, s);
        }
    }

    /// Writes the fixed part and parameters of our INIT / INIT-ACK.
    pub(super) fn write_init_value(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.local_tag.to_be_bytes());
        buf.extend_from_slice(&(self.config.max_receive_buffer as u32).to_be_bytes());
        buf.extend_from_slice(&self.config.streams.to_be_bytes());
        buf.extend_from_slice(&self.config.streams.to_be_bytes());
        buf.extend_from_slice(&self.local_initial_tsn.to_be_bytes());
        self.init_params(buf);
    }

    /// INIT (RFC 9260 §5.1, §5.2.1, §5.2.2): answer with INIT-ACK and a
    /// signed cookie; keep no state.
    fn on_init(&mut self, now: Instant, value: &[u8]) -> Result<(), Error> {
        let init = Init::parse(value)?;
        if init.initiate_tag == 0 || init.outbound_streams == 0 || init.inbound_streams == 0 {
            // RFC 9260 §3.3.2: invalid mandatory parameter: ABORT (tag = peer's).
            self.push_control(Control::Abort {
                cause: cause::PROTOCOL_VIOLATION,
                tag: init.initiate_tag,
                reflect: false,
            });
            return Ok(());
        }
        if matches!(
            self.state,
            AssociationState::ShutdownAckSent | AssociationState::Terminated
        ) {
            return Ok(());
        }
        let params = InitParams::parse(init.params)?;
        let cookie = Cookie {
            local_tag: self.local_tag,
            peer_tag: init.initiate_tag,
            local_initial_tsn: self.local_initial_tsn,
            peer_initial_tsn: init.initial_tsn,
            peer_a_rwnd: init.a_rwnd,
            peer_outbound_streams: init.outbound_streams,
            peer_inbound_streams: init.inbound_streams,
            caps: params.caps,
            created_ms: self.now_ms(now),
            reserved: 0,
        };
        let mut v = Vec::with_capacity(128);
        self.write_init_value(&mut v);
        let s = chunk::begin_param(&mut v, param::STATE_COOKIE);
        self.signer.write(&cookie, &mut v);
        chunk::end_chunk(&mut v, s);
        // Only one INIT-ACK waits at a time: a flood of INITs cannot grow the queue.
        self.control
            .retain(|c| !matches!(c, Control::InitAck { .. }));
        self.push_control(Control::InitAck {
            tag: init.initiate_tag,
            value: v,
        });
        Ok(())
    }

    fn setup(&mut self, peer_tag: u32, peer: &PeerInit) {
        self.peer_tag = peer_tag;
        self.caps = peer.caps;
        let out_streams = self.config.streams.min(peer.inbound_streams);
        let in_streams = self.config.streams.min(peer.outbound_streams);
        let sender = Sender::new(
            self.sender_config(),
            self.local_initial_tsn,
            peer.a_rwnd,
            out_streams,
            peer.caps.forward_tsn,
            self.i_data_in_use(),
        );
        let receiver = Receiver::new(
            peer.initial_tsn,
            in_streams,
            self.config.max_receive_buffer,
            self.config.max_message_size,
            self.i_data_in_use(),
        );
        self.peer_reconfig_seq = peer.initial_tsn;
        self.est = Some(Established {
            sender,
            receiver,
            peer_reset_requests: HashMap::new(),
        });
    }

    /// INIT-ACK (RFC 9260 §5.1 C): echo the cookie.
    fn on_init_ack(&mut self, now: Instant, value: &[u8]) -> Result<(), Error> {
        if self.state != AssociationState::CookieWait {
            return Ok(());
        }
        let init = Init::parse(value)?;
        if init.initiate_tag == 0 || init.outbound_streams == 0 || init.inbound_streams == 0 {
            return Err(Error::ProtocolViolation("invalid INIT-ACK"));
        }
        let params = InitParams::parse(init.params)?;
        let cookie = params
            .cookie
            .ok_or(Error::ProtocolViolation("INIT-ACK without cookie"))?;
        let peer = PeerInit {
            a_rwnd: init.a_rwnd,
            outbound_streams: init.outbound_streams,
            inbound_streams: init.inbound_streams,
            initial_tsn: init.initial_tsn,
            caps: params.caps,
        };
        self.setup(init.initiate_tag, &peer);
        self.cookie_echo = Some(cookie.to_vec());
        self.control.retain(|c| !matches!(c, Control::Init));
        self.control
            .push_front(Control::CookieEcho(cookie.to_vec()));
        self.state = AssociationState::CookieEchoed;
        self.t1_count = 0;
        self.t1 = Some(now + self.t1_rto);
        Ok(())
    }

    /// COOKIE-ECHO (RFC 9260 §5.1 D, §5.2.4).
    fn on_cookie_echo(&mut self, now: Instant, value: &[u8]) -> Result<(), Error> {
        let Some(cookie) = self.signer.verify(
            value,
            self.now_ms(now),
            self.config.cookie_lifetime.as_millis() as u64,
        ) else {
            return Err(Error::BadCookie);
        };
        if cookie.local_tag != self.local_tag {
            return Err(Error::BadCookie);
        }
        match self.state {
            AssociationState::Closed
            | AssociationState::CookieWait
            | AssociationState::CookieEchoed => {
                let peer = PeerInit {
                    a_rwnd: cookie.peer_a_rwnd,
                    outbound_streams: cookie.peer_outbound_streams,
                    inbound_streams: cookie.peer_inbound_streams,
                    initial_tsn: cookie.peer_initial_tsn,
                    caps: cookie.caps,
                };
                // In COOKIE-ECHOED with the same peer (collision, §5.2.4 case D),
                // keep what INIT-ACK set up.
                if self.est.is_none() || self.peer_tag != cookie.peer_tag {
                    self.setup(cookie.peer_tag, &peer);
                }
                self.control
                    .retain(|c| !matches!(c, Control::Init | Control::CookieEcho(_)));
                self.cookie_echo = None;
                self.push_control(Control::CookieAck);
                self.establish(now);
            }
            AssociationState::Established if cookie.peer_tag == self.peer_tag => {
                // Our COOKIE-ACK was lost: send it again.
                self.push_control(Control::CookieAck);
            }
            _ => {}
        }
        Ok(())
    }

    fn on_cookie_ack(&mut self, now: Instant) {
        if self.state == AssociationState::CookieEchoed {
            self.control
                .retain(|c| !matches!(c, Control::CookieEcho(_)));
            self.cookie_echo = None;
            self.establish(now);
        }
    }

    fn establish(&mut self, now: Instant) {
        self.state = AssociationState::Established;
        self.t1 = None;
        self.t1_count = 0;
        self.arm_heartbeat(now);
        self.events.push_back(Event::Connected);
    }

    fn on_heartbeat_ack(&mut self, _now: Instant, value: &[u8]) {
        let Some(Ok(info)) = chunk::Tlvs::new(value, "heartbeat info").next() else {
            return;
        };
        if info.head != param::HEARTBEAT_INFO || info.value.len() != 16 {
            return;
        }
        let nonce = u64::from_be_bytes(info.value[8..16].try_into().unwrap_or([0; 8]));
        if self.heartbeat_sent.is_some_and(|(_, n)| n == nonce) {
            self.heartbeat_sent = None;
            self.error_count = 0;
        }
    }

    // ------------------------------------------------------------ shutdown

    /// Moves the shutdown along once outstanding data is acknowledged (RFC 9260 §9.2).
    pub(super) fn maybe_progress_shutdown(&mut self, now: Instant) {
        let idle = self.est.as_ref().is_none_or(|e| e.sender.is_idle());
        if !idle {
            return;
        }
        let rto = self
            .est
            .as_ref()
            .map_or(self.config.rto_initial, |e| e.sender.rto());
        match self.state {
            AssociationState::ShutdownPending => {
                self.state = AssociationState::ShutdownSent;
                self.push_control(Control::Shutdown);
                self.t2 = Some(now + rto);
            }
            AssociationState::ShutdownReceived => {
                self.state = AssociationState::ShutdownAckSent;
                self.push_control(Control::ShutdownAck);
                self.t2 = Some(now + rto);
            }
            _ => {}
        }
    }

    fn on_shutdown(&mut self, now: Instant, value: &[u8]) -> Result<(), Error> {
        let cum_tsn = chunk::Reader::new(value, "SHUTDOWN chunk").u32()?;
        // RFC 9260 §9.2: the receiver of a SHUTDOWN verifies "by checking
        // the Cumulative TSN Ack field of the chunk, that all its
        // outstanding DATA chunks have been received": it acknowledges data
        // as a SACK's would, so data acknowledged only by a SHUTDOWN (its
        // SACK delayed or lost) does not hold up the SHUTDOWN-ACK.
        if matches!(
            self.state,
            AssociationState::Established
                | AssociationState::ShutdownPending
                | AssociationState::ShutdownSent
                | AssociationState::ShutdownReceived
        ) && let Some(e) = self.est.as_mut()
            && e.sender.handle_cum_ack(now, cum_tsn).progress
        {
            self.error_count = 0;
        }
        match self.state {
            AssociationState::Established | AssociationState::ShutdownPending => {
                self.state = AssociationState::ShutdownReceived;
                self.maybe_progress_shutdown(now);
            }
            AssociationState::ShutdownSent => {
                // Both sides shut down at once (§9.2): answer with SHUTDOWN-ACK.
                self.state = AssociationState::ShutdownAckSent;
                self.push_control(Control::ShutdownAck);
            }
            AssociationState::ShutdownReceived => self.maybe_progress_shutdown(now),
            _ => {}
        }
        Ok(())
    }

    fn on_shutdown_ack(&mut self, h: &CommonHeader) {
        match self.state {
            AssociationState::ShutdownSent | AssociationState::ShutdownAckSent => {
                self.control.clear();
                self.control.push_back(Control::ShutdownComplete {
                    tag: self.peer_tag,
                    reflect: false,
                });
                self.terminate(CloseReason::Shutdown);
            }
            AssociationState::Closed | AssociationState::CookieWait => {
                // Out of the blue SHUTDOWN-ACK (§8.4 item 5).
                self.push_control(Control::ShutdownComplete {
                    tag: h.verification_tag,
                    reflect: true,
                });
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------ RE-CONFIG

    /// RE-CONFIG (RFC 6525 §5.2).
    fn on_reconfig(&mut self, now: Instant, value: &[u8]) -> Result<(), Error> {
        if self.est.is_none() {
            return Ok(());
        }
        let mut handled = 0;
        for p in chunk::reconfig_params(value) {
            handled += 1;
            if handled > 2 {
                break; // §3.1: at most two parameters per chunk.
            }
            match p? {
                ReconfigParam::OutgoingReset {
                    request_seq,
                    last_tsn,
                    streams,
                } => {
                    self.on_peer_outgoing_reset(request_seq, last_tsn, streams)?;
                }
                ReconfigParam::IncomingReset {
                    request_seq,
                    streams,
                } => {
                    // The peer asks us to reset our outgoing streams: do it with
                    // our own request (§5.2.3) and answer this one.
                    if let Some(result) = self.answer_to_resent(request_seq) {
                        // A retransmission: the same answer (§5.2.1),
                        // nothing done again.
                        self.push_control(Control::ReconfigResponse {
                            seq: request_seq,
                            result,
                        });
                        continue;
                    }
                    let ok = request_seq == self.peer_reconfig_seq;
                    // Only streams we have can be reset: a request naming
                    // one we do not is denied as a whole (§4.4), as in
                    // `on_peer_outgoing_reset`; our own request for it would
                    // be denied and retried for ever, with every later reset.
                    let outbound = self.outbound_streams();
                    let valid = chunk::stream_list(streams).all(|s| s < outbound);
                    if ok {
                        self.peer_reconfig_seq = self.peer_reconfig_seq.wrapping_add(1);
                        if valid && let Some(e) = self.est.as_mut() {
                            // No stream listed: every outgoing stream (§4.2),
                            // that is each one in use; the others are at
                            // SSN 0 already.
                            let mut list: Vec<u16> = chunk::stream_list(streams).collect();
                            if list.is_empty() {
                                list = e.sender.streams_in_use();
                            }
                            // Told to the application: for a data channel
                            // the reset is its closing (RFC 8831 §6.7).
                            for s in list {
                                if e.sender.queue_reset(s) {
                                    let n = e.peer_reset_requests.entry(s).or_insert(0);
                                    *n = n.wrapping_add(1);
                                    self.events
                                        .push_back(Event::OutgoingStreamResetRequested(s));
                                }
                            }
                        }
                    }
                    let result = match (ok, valid) {
                        (true, true) => result::SUCCESS_NOTHING,
                        (true, false) => result::DENIED,
                        (false, _) => result::BAD_SEQUENCE,
                    };
                    if ok {
                        self.record_reconfig_result(request_seq, result);
                    }
                    self.push_control(Control::ReconfigResponse {
                        seq: request_seq,
                        result,
                    });
                }
                ReconfigParam::Response {
                    response_seq,
                    result,
                } => {
                    self.on_reconfig_response(now, response_seq, result);
                }
                ReconfigParam::AddStreams {
                    request_seq,
                    count,
                    outgoing,
                } => {
                    if let Some(result) = self.answer_to_resent(request_seq) {
                        // A retransmission (RFC 6525 §5.2.5, §5.2.6 with
                        // §5.2.1): the same answer, no streams added twice.
                        self.push_control(Control::ReconfigResponse {
                            seq: request_seq,
                            result,
                        });
                        continue;
                    }
                    let ok = request_seq == self.peer_reconfig_seq;
                    let result = if ok && outgoing {
                        // The peer adds outgoing streams: our inbound count grows.
                        self.peer_reconfig_seq = self.peer_reconfig_seq.wrapping_add(1);
                        if let Some(e) = self.est.as_mut() {
                            let n = e.receiver.inbound_streams().saturating_add(count);
                            e.receiver.set_inbound_streams(n);
                        }
                        result::SUCCESS_PERFORMED
                    } else if ok {
                        self.peer_reconfig_seq = self.peer_reconfig_seq.wrapping_add(1);
                        result::DENIED
                    } else {
                        result::BAD_SEQUENCE
                    };
                    if ok {
                        self.record_reconfig_result(request_seq, result);
                    }
                    self.push_control(Control::ReconfigResponse {
                        seq: request_seq,
                        result,
                    });
                }
                ReconfigParam::Other { request_seq } => {
                    if let Some(seq) = request_seq {
                        self.push_control(Control::ReconfigResponse {
                            seq,
                            result: result::DENIED,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The answer to a retransmission of one of the peer's last two
    /// requests (RFC 6525 §5.2.1: the same answer again; Success - Nothing
    /// to do for the last one when its answer was not kept), or `None` for
    /// any other number.
    fn answer_to_resent(&self, seq: u32) -> Option<u32> {
        let next = self.peer_reconfig_seq;
        if seq != next.wrapping_sub(1) && seq != next.wrapping_sub(2) {
            return None;
        }
        let kept = self
            .last_reconfig_results
            .iter()
            .flatten()
            .find(|(s, _)| *s == seq)
            .map(|(_, r)| *r);
        match kept {
            Some(r) => Some(r),
            None if seq == next.wrapping_sub(1) => Some(result::SUCCESS_NOTHING),
            None => None,
        }
    }

    /// Keeps the answer to the peer's request `seq` for its retransmissions.
    fn record_reconfig_result(&mut self, seq: u32, result: u32) {
        self.last_reconfig_results = [self.last_reconfig_results[1], Some((seq, result))];
    }

    fn on_peer_outgoing_reset(
        &mut self,
        seq: u32,
        last_tsn: u32,
        streams: &[u8],
    ) -> Result<(), Error> {
        if let Some(result) = self.answer_to_resent(seq) {
            // A retransmission of a recent request: same answer (§5.2.2).
            self.push_control(Control::ReconfigResponse { seq, result });
            return Ok(());
        }
        if seq != self.peer_reconfig_seq {
            self.push_control(Control::ReconfigResponse {
                seq,
                result: result::BAD_SEQUENCE,
            });
            return Ok(());
        }
        // RFC 6525 §5.2.2 E3 resets the listed streams; one the association
        // does not have (at or above its inbound stream count) cannot be
        // reset. The request is answered as a whole (§4.4): "Denied", with
        // nothing reset and nothing reported to the application, as Linux
        // does. The sequence number is used up like any answered request.
        // An empty list is of every stream (§4.1), and stays empty here.
        let inbound = self
            .est
            .as_ref()
            .map_or(0, |e| e.receiver.inbound_streams());
        if chunk::stream_list(streams).any(|s| s >= inbound) {
            self.peer_reconfig_seq = seq.wrapping_add(1);
            self.record_reconfig_result(seq, result::DENIED);
            self.push_control(Control::ReconfigResponse {
                seq,
                result: result::DENIED,
            });
            // A deferred request has this sequence number (deferral does
            // not use it up): the same number sent again with other streams,
            // only from a misbehaving peer. Its answer is now "Denied", so
            // it is withdrawn (never performed, never answered twice) and
            // the data held for its streams is processed as they are.
            if self.deferred_reset.take().is_some()
                && let Some(e) = self.est.as_mut()
            {
                e.receiver.release_held(&mut self.events)?;
            }
            return Ok(());
        }
        let reached = self
            .est
            .as_ref()
            .is_some_and(|e| e.receiver.reached(last_tsn));
        let list: Vec<u16> = chunk::stream_list(streams).collect();
        if !reached {
            // Data up to last_tsn is still missing: defer (bounded: one at a
            // time); the receiver holds the streams' later data (§5.2.2 E2).
            if let Some(e) = self.est.as_mut() {
                e.receiver.defer_reset(&list, last_tsn);
            }
            self.deferred_reset = Some(DeferredReset {
                seq,
                last_tsn,
                streams: list,
            });
            self.push_control(Control::ReconfigResponse {
                seq,
                result: result::IN_PROGRESS,
            });
            return Ok(());
        }
        self.perform_incoming_reset(seq, last_tsn, &list)
    }

    /// Resets the streams (RFC 6525 §5.2.2 E3), tells the application,
    /// then processes the data held for their next use (E4), which may
    /// complete messages (an `Err` aborts the association, as for any DATA).
    fn perform_incoming_reset(
        &mut self,
        seq: u32,
        last_tsn: u32,
        streams: &[u16],
    ) -> Result<(), Error> {
        // A deferred request with this sequence number is this one.
        self.deferred_reset = None;
        self.peer_reconfig_seq = seq.wrapping_add(1);
        self.record_reconfig_result(seq, result::SUCCESS_PERFORMED);
        self.push_control(Control::ReconfigResponse {
            seq,
            result: result::SUCCESS_PERFORMED,
        });
        if let Some(e) = self.est.as_mut() {
            // An empty list is of every stream (RFC 6525 §4.1), also those
            // the peer never sent on: told with one event, not one per
            // stream of the inbound stream count.
            let reset = e.receiver.reset_streams(streams, last_tsn);
            if streams.is_empty() {
                self.events.push_back(Event::AllIncomingStreamsReset);
            } else {
                self.events
                    .extend(reset.into_iter().map(Event::IncomingStreamReset));
            }
            e.receiver.release_held(&mut self.events)?;
        }
        Ok(())
    }

    /// Performs a deferred incoming reset once its last TSN arrived.
    pub(super) fn check_deferred_reset(&mut self) -> Result<(), Error> {
        let Some(d) = &self.deferred_reset else {
            return Ok(());
        };
        let reached = self
            .est
            .as_ref()
            .is_some_and(|e| e.receiver.reached(d.last_tsn));
        if reached {
            if let Some(d) = self.deferred_reset.take() {
                return self.perform_incoming_reset(d.seq, d.last_tsn, &d.streams);
            }
        }
        Ok(())
    }

    fn on_reconfig_response(&mut self, now: Instant, seq: u32, result: u32) {
        let Some(req) = &self.reset_out else { return };
        if req.seq != seq {
            return;
        }
        // Answered: the timer's back-off ends (RFC 9260 §6.3.3).
        self.reset_rto = None;
        match result {
            result::IN_PROGRESS => {
                // RFC 6525 §4.4: no refusal, the peer is still at it (it
                // waits for our data, §5.2.2 E2): sent again one RTO later,
                // the wait not counting as an unanswered timeout (RFC 9260
                // §8.1). While our data up to the request's last TSN is
                // not all acknowledged the peer rightly waits, and will
                // perform the reset once it arrives (§5.2.2): given up
                // then, our stream's sequence numbers would go on while
                // the peer's start again. That wait is as long as the
                // data's, which T3-rtx bounds. Once the data is
                // acknowledged, more than `max_retransmits` such answers
                // give the request up, as refusals do.
                let Some(req) = self.reset_out.as_mut() else {
                    return;
                };
                let data_acked = self
                    .est
                    .as_ref()
                    .is_none_or(|e| e.sender.acked_through(req.last_tsn));
                if data_acked {
                    req.in_progress += 1;
                }
                if req.in_progress <= self.config.max_retransmits {
                    req.answered = true;
                    if let Some(e) = self.est.as_ref() {
                        self.reset_timer = Some(now + e.sender.rto());
                    }
                    return;
                }
                self.reset_timer = None;
                // A give-up ends the refusals in a row (the wait is the
                // association's, not a stream's): the next refused
                // request waits one RTO again.
                self.reset_refused_wait = None;
                if let (Some(req), Some(e)) = (self.reset_out.take(), self.est.as_mut()) {
                    for s in req.streams {
                        e.sender.abandon_reset(s);
                        self.events.push_back(Event::OutgoingStreamResetFailed(s));
                    }
                }
            }
            result::SUCCESS_PERFORMED | result::SUCCESS_NOTHING => {
                if let (Some(req), Some(e)) = (self.reset_out.take(), self.est.as_mut()) {
                    for s in req.streams {
                        e.sender.complete_reset(s);
                        self.events.push_back(Event::OutgoingStreamReset(s));
                    }
                }
                self.reset_timer = None;
                self.reset_refused_wait = None;
                self.error_count = 0;
            }
            _ => {
                // Refused (Denied, or an error result, RFC 6525 §4.4): asked
                // again one RTO later, not at once, lest a peer that always
                // refuses be asked in a loop, each stream in a request of
                // its own (the answer is to the request as a whole); the
                // wait doubles at each refusal in a row, up to RTO.max, as
                // the request's retransmission timer does (§5.1.1, RFC
                // 9260 §6.3.3 E2). A
                // stream refused more than `max_retransmits` times in a
                // row is given up: it takes messages again with its
                // sequence numbers going on (the peer reset nothing
                // either), and the application is told.
                self.reset_timer = None;
                if let (Some(req), Some(e)) = (self.reset_out.take(), self.est.as_mut()) {
                    let mut asked_again = false;
                    for s in req.streams {
                        if e.sender.refuse_reset(s, self.config.max_retransmits) {
                            self.events.push_back(Event::OutgoingStreamResetFailed(s));
                        } else {
                            asked_again = true;
                        }
                    }
                    if asked_again {
                        let wait = self
                            .reset_refused_wait
                            .map_or(e.sender.rto(), |w| (w * 2).min(self.config.rto_max));
                        self.reset_refused_wait = Some(wait);
                        self.reset_timer = Some(now + wait);
                    } else {
                        self.reset_refused_wait = None;
                    }
                }
            }
        }
    }
}

/// The peer's INIT / INIT-ACK parameters, from the chunk or from a cookie.
#[derive(Debug, Clone, Copy)]
pub(super) struct PeerInit {
    pub a_rwnd: u32,
    pub outbound_streams: u16,
    pub inbound_streams: u16,
    pub initial_tsn: u32,
    pub caps: InitCaps,
}
