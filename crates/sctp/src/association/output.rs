//! Packet assembly: control chunks, SACK, FORWARD-TSN, RE-CONFIG and DATA
//! bundled into packets of at most `mtu` bytes (RFC 9260 §6.10).

use std::time::Instant;

use super::*;

impl Association {
    /// Writes the next SCTP packet into `buf` (cleared first) and returns its
    /// length, or `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        let len = self.next_packet(now, buf);
        if len.is_none() {
            self.trim_idle();
        }
        len
    }

    /// Frees the capacity of empty queues once nothing is in flight or
    /// waiting to be sent: an idle association holds no buffers (they grow
    /// again on demand). Not while data flows, where they would only be
    /// allocated again at once.
    fn trim_idle(&mut self) {
        fn release<T>(q: &mut VecDeque<T>) {
            if q.is_empty() && q.capacity() > 0 {
                *q = VecDeque::new();
            }
        }
        release(&mut self.control);
        if self.events.is_empty() {
            release(&mut self.events);
        }
        if let Some(e) = self.est.as_mut() {
            e.sender.trim_idle();
            e.receiver.trim_idle();
        }
        if self.reset_scratch.is_empty() {
            self.reset_scratch = Vec::new();
        }
    }

    fn next_packet(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        self.touch(now);
        buf.clear();
        let mtu = self.config.mtu;
        // Chunks that need their own packet and verification tag.
        match self.control.front() {
            Some(Control::Init) => {
                self.control.pop_front();
                self.begin_packet(buf, 0);
                let s = chunk::begin_chunk(buf, ty::INIT, 0);
                self.write_init_value(buf);
                chunk::end_chunk(buf, s);
                return Some(self.finish_packet(buf, true));
            }
            Some(Control::InitAck { .. }) => {
                let Some(Control::InitAck { tag, value }) = self.control.pop_front() else {
                    return None;
                };
                self.begin_packet(buf, tag);
                chunk::write_chunk(buf, ty::INIT_ACK, 0, &value);
                return Some(self.finish_packet(buf, true));
            }
            Some(Control::Abort { .. }) | Some(Control::ShutdownComplete { .. }) => {
                return match self.control.pop_front() {
                    Some(Control::Abort {
                        cause,
                        tag,
                        reflect,
                    }) => {
                        let (tag, flags) = self.tag_for(tag, reflect);
                        self.begin_packet(buf, tag);
                        let s = chunk::begin_chunk(buf, ty::ABORT, flags);
                        chunk::write_cause(buf, cause, &[]);
                        chunk::end_chunk(buf, s);
                        Some(self.finish_packet(buf, true))
                    }
                    Some(Control::ShutdownComplete { tag, reflect }) => {
                        let (tag, flags) = self.tag_for(tag, reflect);
                        self.begin_packet(buf, tag);
                        chunk::write_chunk(buf, ty::SHUTDOWN_COMPLETE, flags, &[]);
                        Some(self.finish_packet(buf, true))
                    }
                    _ => None,
                };
            }
            _ => {}
        }
        if self.state == AssociationState::Terminated || self.peer_tag == 0 {
            // Nothing but the standalone chunks above leaves before setup or after the end.
            self.control
                .retain(|c| matches!(c, Control::Init | Control::InitAck { .. }));
            return None;
        }
        self.begin_packet(buf, self.peer_tag);
        let mut needs_crc = false;
        // COOKIE-ECHO must come first (RFC 9260 §5.1).
        if matches!(self.control.front(), Some(Control::CookieEcho(_))) {
            if let Some(Control::CookieEcho(c)) = self.control.pop_front() {
                chunk::write_chunk(buf, ty::COOKIE_ECHO, 0, &c);
                needs_crc = true;
            }
        }
        // SACK, if one is due now, or piggy-backed on outgoing DATA.
        let data_ready = self.state_allows_data()
            && self
                .est
                .as_ref()
                .is_some_and(|e| e.sender.has_data_to_send());
        let sack_pending = self.sack_now || self.sack_deadline.is_some();
        if self.est.is_some() && (self.sack_now || (sack_pending && data_ready)) {
            if let Some(e) = self.est.as_mut() {
                e.receiver.write_sack(buf, mtu.saturating_sub(buf.len()));
                self.last_a_rwnd = e.receiver.a_rwnd();
            }
            self.sack_now = false;
            self.sack_deadline = None;
            self.packets_unacked = 0;
        }
        // Other control chunks, while they fit.
        while let Some(c) = self.control.front() {
            if matches!(
                c,
                Control::Init
                    | Control::InitAck { .. }
                    | Control::Abort { .. }
                    | Control::ShutdownComplete { .. }
            ) {
                break;
            }
            let before = buf.len();
            let Some(c) = self.control.pop_front() else {
                break;
            };
            self.write_control(buf, &c);
            if buf.len() > mtu && before > COMMON_HEADER_LEN {
                // Too big to bundle: it goes first in the next packet.
                buf.truncate(before);
                self.control.push_front(c);
                break;
            }
        }
        if let Some(e) = self.est.as_mut() {
            let room = mtu.saturating_sub(buf.len());
            e.sender.write_forward_tsn(buf, room);
        }
        self.write_reset_request(now, buf);
        if self.state_allows_data() {
            if let Some(e) = self.est.as_mut() {
                e.sender
                    .fill(now, buf, mtu, &mut self.stats, &mut self.events);
            }
        }
        // A chunk abandoned by `fill` at its retransmission (RFC 3758 §3.5
        // A1) is skipped at once (C3): in this packet if it is still empty,
        // otherwise in the next one, which the caller polls for.
        if buf.len() <= COMMON_HEADER_LEN
            && let Some(e) = self.est.as_mut()
        {
            e.sender
                .write_forward_tsn(buf, mtu.saturating_sub(buf.len()));
        }
        if buf.len() <= COMMON_HEADER_LEN {
            buf.clear();
            return None;
        }
        if self.heartbeat_sent.is_none() && self.config.heartbeat_interval.is_some() {
            self.arm_heartbeat(now);
        }
        Some(self.finish_packet(buf, needs_crc))
    }

    fn state_allows_data(&self) -> bool {
        matches!(
            self.state,
            AssociationState::Established
                | AssociationState::ShutdownPending
                | AssociationState::ShutdownReceived
        )
    }

    fn tag_for(&self, tag: u32, reflect: bool) -> (u32, u8) {
        if reflect { (tag, flag::T) } else { (tag, 0) }
    }

    fn begin_packet(&self, buf: &mut Vec<u8>, tag: u32) {
        chunk::write_header(
            buf,
            CommonHeader {
                src_port: self.config.local_port,
                dst_port: self.config.remote_port,
                verification_tag: tag,
            },
        );
    }

    fn finish_packet(&mut self, buf: &mut [u8], needs_crc: bool) -> usize {
        // RFC 9653 §5.3: packets with INIT, INIT-ACK or COOKIE-ECHO always carry a CRC32c.
        if needs_crc || !self.zero_checksum_in_use() {
            crc::fill(buf);
        }
        self.stats.packets_sent += 1;
        buf.len()
    }

    fn write_control(&self, buf: &mut Vec<u8>, c: &Control) {
        match c {
            Control::CookieEcho(c) => chunk::write_chunk(buf, ty::COOKIE_ECHO, 0, c),
            Control::CookieAck => chunk::write_chunk(buf, ty::COOKIE_ACK, 0, &[]),
            Control::Heartbeat(info) => {
                let s = chunk::begin_chunk(buf, ty::HEARTBEAT, 0);
                let p = chunk::begin_param(buf, param::HEARTBEAT_INFO);
                buf.extend_from_slice(info);
                chunk::end_chunk(buf, p);
                chunk::end_chunk(buf, s);
            }
            Control::HeartbeatAck(v) => chunk::write_chunk(buf, ty::HEARTBEAT_ACK, 0, v),
            Control::Error(causes) => chunk::write_chunk(buf, ty::ERROR, 0, causes),
            Control::Shutdown => {
                let cum = self.est.as_ref().map_or(0, |e| e.receiver.cum_tsn());
                chunk::write_chunk(buf, ty::SHUTDOWN, 0, &cum.to_be_bytes());
            }
            Control::ShutdownAck => chunk::write_chunk(buf, ty::SHUTDOWN_ACK, 0, &[]),
            Control::ReconfigResponse { seq, result } => {
                let s = chunk::begin_chunk(buf, ty::RE_CONFIG, 0);
                let p = chunk::begin_param(buf, param::RECONFIG_RESPONSE);
                buf.extend_from_slice(&seq.to_be_bytes());
                buf.extend_from_slice(&result.to_be_bytes());
                chunk::end_chunk(buf, p);
                chunk::end_chunk(buf, s);
            }
            Control::Init
            | Control::InitAck { .. }
            | Control::Abort { .. }
            | Control::ShutdownComplete { .. } => {}
        }
    }

    /// Writes an Outgoing SSN Reset Request (RFC 6525 §4.1) when one is due.
    fn write_reset_request(&mut self, now: Instant, buf: &mut Vec<u8>) {
        if self.state != AssociationState::Established {
            return;
        }
        let Some(e) = self.est.as_mut() else { return };
        if self.reset_out.is_none() {
            if self.reset_timer.is_some() {
                // A request was refused: the next waits for the timer.
                return;
            }
            self.reset_scratch.clear();
            e.sender.take_drained_resets(&mut self.reset_scratch);
            if self.reset_scratch.is_empty() {
                return;
            }
            if !self.caps.reconfig {
                // The peer cannot reset streams: report them as reset locally.
                for &s in &self.reset_scratch {
                    e.sender.complete_reset(s);
                    self.events.push_back(Event::OutgoingStreamReset(s));
                }
                return;
            }
            let streams = std::mem::take(&mut self.reset_scratch);
            self.reset_out = Some(ResetRequest {
                seq: self.next_reconfig_seq,
                last_tsn: e.sender.last_assigned_tsn(),
                streams,
                send: true,
                in_progress: 0,
                answered: false,
            });
            self.next_reconfig_seq = self.next_reconfig_seq.wrapping_add(1);
        }
        let Some(req) = self.reset_out.as_mut() else {
            return;
        };
        if !req.send {
            return;
        }
        // Stream list limited to what fits in one packet.
        let room = self.config.mtu.saturating_sub(buf.len() + 24);
        let max_streams = room / 2;
        if max_streams == 0 {
            return;
        }
        if req.streams.len() > max_streams {
            // Put the excess back for the next request.
            for s in req.streams.split_off(max_streams) {
                e.sender.retry_reset(s);
            }
        }
        let s = chunk::begin_chunk(buf, ty::RE_CONFIG, 0);
        let p = chunk::begin_param(buf, param::OUTGOING_RESET_REQUEST);
        buf.extend_from_slice(&req.seq.to_be_bytes());
        buf.extend_from_slice(&self.peer_reconfig_seq.wrapping_sub(1).to_be_bytes());
        buf.extend_from_slice(&req.last_tsn.to_be_bytes());
        for st in &req.streams {
            buf.extend_from_slice(&st.to_be_bytes());
        }
        chunk::end_chunk(buf, p);
        chunk::end_chunk(buf, s);
        req.send = false;
        self.reset_timer = Some(now + self.reset_rto.unwrap_or(e.sender.rto()));
    }
}
