//! The data channels (RFC 8831, DCEP RFC 8832): the calls of W3C
//! `RTCDataChannel` handed to the one channel engine,
//! [`ferrtc_datachannel::DataChannels`], which owns the SCTP association,
//! and its events turned into the connection's.

use std::time::Instant;

use ferrtc_datachannel::{ChannelId, ChannelInfo, DataChannelInit};
use ferrtc_sctp::Association;

use super::PeerConnection;
use crate::error::Error;
use crate::event::Event;

impl PeerConnection {
    /// The attributes of a data channel (a closed one while it is among
    /// the latest 1,024 closed, `ferrtc_datachannel::DEFAULT_MAX_CLOSED_CHANNELS`).
    pub fn channel(&self, id: ChannelId) -> Option<ChannelInfo> {
        self.channels.channel(id)
    }

    /// Every data channel that is not closed, in creation order.
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels.channels()
    }

    /// `bufferedAmount` of a channel: bytes queued and not yet sent.
    pub fn buffered_amount(&self, id: ChannelId) -> usize {
        self.channels.buffered_amount(id)
    }

    /// Sets `bufferedAmountLowThreshold` of a channel.
    pub fn set_buffered_amount_low_threshold(
        &mut self,
        id: ChannelId,
        threshold: usize,
    ) -> Result<(), Error> {
        Ok(self
            .channels
            .set_buffered_amount_low_threshold(id, threshold)?)
    }

    /// The remote `max-message-size` (RFC 8841 §6), the largest message
    /// `send` accepts.
    pub fn max_message_size(&self) -> usize {
        self.remote_max_message_size
            .min(self.config.max_message_size)
    }

    /// Counters of the SCTP association, once it exists.
    pub fn sctp_stats(&self) -> Option<ferrtc_sctp::Stats> {
        self.channels.association().map(Association::stats)
    }

    /// `createDataChannel`: a channel that opens once SCTP is up (DCEP,
    /// RFC 8832, unless `negotiated`). The first one asks for a data
    /// m-section and fires `negotiationneeded`.
    pub fn create_data_channel(
        &mut self,
        now: Instant,
        label: &str,
        init: DataChannelInit,
    ) -> Result<ChannelId, Error> {
        self.check_open()?;
        let id = self.channels.create(now, label, init)?;
        if self.jsep.data_mid().is_none() {
            self.jsep.request_data_channel();
            self.check_negotiation_needed();
        }
        self.process(now);
        Ok(id)
    }

    /// `send()` on a channel: text when `binary` is false (the bytes must
    /// be UTF-8; the async API takes `&str` for text), binary otherwise.
    pub fn send(
        &mut self,
        now: Instant,
        id: ChannelId,
        data: &[u8],
        binary: bool,
    ) -> Result<(), Error> {
        // PR-SCTP (RFC 3758 §3.5): a lifetime counts from the true time of
        // the send.
        Ok(self.channels.send(now, id, data, binary)?)
    }

    /// `close()` on a channel: resets its outgoing stream (RFC 8831 §6.7);
    /// the `close` event follows once the peer reset its side.
    pub fn close_channel(&mut self, now: Instant, id: ChannelId) -> Result<(), Error> {
        self.channels.close(now, id)?;
        self.process(now);
        Ok(())
    }

    /// Stops or resumes handing received messages up. While paused they
    /// stay in SCTP's receive buffer, whose advertised window then closes
    /// and holds the peer back (RFC 9260 §6.2): a driver pauses while its
    /// application is not reading, so a peer cannot make it queue without
    /// bound. Resuming delivers what waited, and reopens the window.
    pub fn set_receive_paused(&mut self, now: Instant, paused: bool) {
        self.channels.set_receive_paused(now, paused);
        if !paused {
            self.process(now);
        }
    }

    /// Maps the data channel engine's events to W3C events.
    pub(super) fn process_channels(&mut self) -> bool {
        use ferrtc_datachannel::Event as E;
        let mut moved = false;
        while let Some(ev) = self.channels.poll_event() {
            moved = true;
            let ev = match ev {
                E::Incoming(id) => Event::DataChannel(id),
                E::Open(id) => Event::ChannelOpen(id),
                E::Message { channel, message } => Event::ChannelMessage { channel, message },
                E::BufferedAmountLow(id) => Event::ChannelBufferedAmountLow(id),
                E::Closing(id) => Event::ChannelClosing(id),
                E::Closed(id) => Event::ChannelClose(id),
                // Logged by the engine; the W3C API has no event for them.
                _ => continue,
            };
            self.events.push_back(ev);
        }
        moved
    }

    /// Feeds one SCTP message straight to the channel engine, as the
    /// association would deliver it (unit tests of DCEP handling).
    #[cfg(test)]
    pub(super) fn on_message(&mut self, now: Instant, m: ferrtc_sctp::Message) {
        self.channels.handle_message(now, m);
        self.process_channels();
    }
}
