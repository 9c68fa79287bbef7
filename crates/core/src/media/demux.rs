//! Which receiver an RTP packet belongs to on the bundled transport (RFC
//! 8843 §9.2): the mid header extension first, then an SSRC already bound
//! to a receiver, then a payload type only one receiver negotiated. Within
//! a simulcast receiver the RFC 8852 `rtp-stream-id` binds a media SSRC to
//! its layer and `repaired-rtp-stream-id` an RTX SSRC (RFC 8852 §3, RFC
//! 8853 §5.2). The SSRC table is bounded: a flood of new SSRCs cannot grow
//! it.

use std::collections::BTreeMap;

use ferrtc_jsep::TransceiverId;
use ferrtc_srtp::SsrcMap;

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

/// The identifying header extensions of one packet (RFC 8843 §15, RFC
/// 8852 §3), their values as sent.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamNames<'a> {
    pub mid: Option<&'a [u8]>,
    pub rid: Option<&'a [u8]>,
    pub repaired_rid: Option<&'a [u8]>,
}

/// Where a bound SSRC goes: a receiver and, once a rid named it, its
/// layer.
type Route = (TransceiverId, Option<usize>);

/// SSRC to transceiver (and simulcast layer), learned from packets (and
/// their mid and rid).
#[derive(Debug, Default)]
pub(crate) struct SsrcTable {
    map: SsrcMap<Route>,
    limit: usize,
}

impl SsrcTable {
    /// A table holding at most `limit` SSRCs.
    pub fn new(limit: usize) -> Self {
        Self {
            map: SsrcMap::default(),
            limit,
        }
    }

    /// SSRCs bound.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Forgets the SSRCs of transceivers that no longer receive.
    pub fn retain(&mut self, keep: impl Fn(TransceiverId) -> bool) {
        self.map.retain(|_, (t, _)| keep(*t));
    }

    /// Where `ssrc` is bound, if it is.
    pub fn get(&self, ssrc: u32) -> Option<Route> {
        self.map.get(&ssrc).copied()
    }

    /// The layers of transceiver `t` changed (a new negotiation): an SSRC
    /// bound to old layer `i` follows its rid to layer `moved[i]`, or is
    /// forgotten when its rid is gone, so no SSRC feeds a layer by a stale
    /// index.
    pub fn remap(&mut self, t: TransceiverId, moved: &[Option<usize>]) {
        self.map.retain(|_, (bt, layer)| {
            if *bt != t {
                return true;
            }
            let Some(old) = *layer else {
                return true;
            };
            match moved.get(old).copied().flatten() {
                Some(new) => {
                    *layer = Some(new);
                    true
                }
                None => false,
            }
        });
    }

    fn bind(&mut self, ssrc: u32, route: Route) -> Result<Route, Unroutable> {
        if let Some(bound) = self.map.get_mut(&ssrc) {
            // RFC 8843 §9.2: the mid (and rid) a packet carries wins over
            // the table.
            *bound = route;
            return Ok(route);
        }
        if self.map.len() >= self.limit {
            return Err(Unroutable::TooManySsrcs);
        }
        self.map.insert(ssrc, route);
        Ok(route)
    }

    /// The receiver (and simulcast layer, once known) of a packet with the
    /// identifying extensions `names`, `ssrc` and payload type `pt`,
    /// binding the SSRC when it is new or named anew.
    pub fn route(
        &mut self,
        receivers: &BTreeMap<TransceiverId, Receiver>,
        names: StreamNames<'_>,
        ssrc: u32,
        pt: u8,
    ) -> Result<Route, Unroutable> {
        let bound = self.map.get(&ssrc).copied();
        // Most packets: the SSRC is bound to the receiver its MID names.
        let bound_by_mid = bound.map(|(t, _)| t).filter(|t| {
            names
                .mid
                .is_some_and(|mid| receivers.get(t).is_some_and(|r| r.mid.as_bytes() == mid))
        });
        let t = if let Some(t) = bound_by_mid {
            t
        } else if let Some(mid) = names.mid {
            receivers
                .iter()
                .find(|(_, r)| r.mid.as_bytes() == mid)
                .map(|(t, _)| *t)
                .ok_or(Unroutable::Unknown)?
        } else if let Some((t, _)) = bound {
            t
        } else {
            let mut by_pt = receivers.iter().filter(|(_, r)| r.has_payload_type(pt));
            match (by_pt.next(), by_pt.next()) {
                (Some((t, _)), None) => *t,
                _ => return Err(Unroutable::Unknown),
            }
        };
        let r = receivers.get(&t).ok_or(Unroutable::Unknown)?;
        // RFC 8852 §3: the rid names a media stream's layer; the repaired
        // rid names the layer an RTX stream repairs. A rid the receiver
        // did not agree to receive is dropped (RFC 8853 §5.3).
        let named = match names.rid.or(names.repaired_rid) {
            Some(rid) => Some(r.layer_of(rid).ok_or(Unroutable::Unknown)?),
            None => None,
        };
        let layer = named.or(bound.filter(|(b, _)| *b == t).and_then(|(_, l)| l));
        let route = (t, layer);
        if bound == Some(route) {
            return Ok(route);
        }
        self.bind(ssrc, route)
    }
}
