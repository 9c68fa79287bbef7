//! Which receiver an RTP packet belongs to on the bundled transport (RFC
//! 8843 §9.2): the mid header extension first, then an SSRC already bound
//! to a receiver, then a payload type only one receiver negotiated. The
//! SSRC table is bounded: a flood of new SSRCs cannot grow it.

use std::collections::{BTreeMap, HashMap};

use ferrtc_jsep::TransceiverId;

use super::receiver::Receiver;

/// Why a packet has no receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unroutable {
    /// A mid no receiver has, or an SSRC and payload type that name none.
    Unknown,
    /// The SSRC table is full: a new SSRC is not bound (RFC 8843 §9.2
    /// lets a receiver drop what it cannot tell apart).
    TooManySsrcs,
}

/// SSRC to transceiver, learned from packets (and their mid).
#[derive(Debug, Default)]
pub(crate) struct SsrcTable {
    map: HashMap<u32, TransceiverId>,
    limit: usize,
}

impl SsrcTable {
    /// A table holding at most `limit` SSRCs.
    pub fn new(limit: usize) -> Self {
        Self {
            map: HashMap::new(),
            limit,
        }
    }

    /// SSRCs bound.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Forgets the SSRCs of transceivers that no longer receive.
    pub fn retain(&mut self, keep: impl Fn(TransceiverId) -> bool) {
        self.map.retain(|_, t| keep(*t));
    }

    fn bind(&mut self, ssrc: u32, t: TransceiverId) -> Result<TransceiverId, Unroutable> {
        if let Some(bound) = self.map.get_mut(&ssrc) {
            // RFC 8843 §9.2: the mid a packet carries wins over the table.
            *bound = t;
            return Ok(t);
        }
        if self.map.len() >= self.limit {
            return Err(Unroutable::TooManySsrcs);
        }
        self.map.insert(ssrc, t);
        Ok(t)
    }

    /// The receiver of a packet with `mid` (from its header extension, if
    /// any), `ssrc` and payload type `pt`, binding the SSRC when it is new.
    pub fn route(
        &mut self,
        receivers: &BTreeMap<TransceiverId, Receiver>,
        mid: Option<&[u8]>,
        ssrc: u32,
        pt: u8,
    ) -> Result<TransceiverId, Unroutable> {
        if let Some(mid) = mid {
            let t = receivers
                .iter()
                .find(|(_, r)| r.mid.as_bytes() == mid)
                .map(|(t, _)| *t)
                .ok_or(Unroutable::Unknown)?;
            return self.bind(ssrc, t);
        }
        if let Some(t) = self.map.get(&ssrc) {
            return Ok(*t);
        }
        let mut by_pt = receivers.iter().filter(|(_, r)| r.has_payload_type(pt));
        match (by_pt.next(), by_pt.next()) {
            (Some((t, _)), None) => self.bind(ssrc, *t),
            _ => Err(Unroutable::Unknown),
        }
    }
}
