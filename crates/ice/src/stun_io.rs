//! The STUN messages ICE sends and the fields it reads from received ones
//! (RFC 8445 §7.1, §7.2.2, §7.3), on top of `ferrtc-stun`.

use std::net::SocketAddr;

use ferrtc_stun::{
    Attribute, Class, Message, MessageBuilder, Method, TransactionId, UnknownAttributes,
};

/// The ICE role attribute of a Binding request (RFC 8445 §7.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoleAttr {
    pub controlling: bool,
    pub tie_breaker: u64,
}

/// The fields of a received Binding message the agent uses.
#[derive(Debug, Default)]
pub(crate) struct Inbound<'a> {
    pub username: Option<&'a str>,
    pub priority: Option<u32>,
    pub use_candidate: bool,
    pub role: Option<RoleAttr>,
    pub error_code: Option<u16>,
    pub mapped: Option<SocketAddr>,
    /// A malformed attribute was found (the request gets a 400).
    pub malformed: bool,
}

/// Reads the ICE-relevant attributes of `msg` (stops at the first malformed one).
pub(crate) fn read<'a>(msg: &Message<'a>) -> Inbound<'a> {
    let mut r = Inbound::default();
    for attr in msg.attributes() {
        match attr {
            Ok(Attribute::Username(u)) => r.username = Some(u),
            Ok(Attribute::Priority(p)) => r.priority = Some(p),
            Ok(Attribute::UseCandidate) => r.use_candidate = true,
            Ok(Attribute::IceControlling(t)) => {
                r.role = Some(RoleAttr {
                    controlling: true,
                    tie_breaker: t,
                })
            }
            Ok(Attribute::IceControlled(t)) => {
                r.role = Some(RoleAttr {
                    controlling: false,
                    tie_breaker: t,
                })
            }
            Ok(Attribute::ErrorCode { code, .. }) => r.error_code = Some(code),
            Ok(Attribute::XorMappedAddress(a)) => r.mapped = Some(a),
            Ok(Attribute::MappedAddress(a)) => {
                // RFC 8489 §14.1: only for old servers; XOR-MAPPED wins.
                if r.mapped.is_none() {
                    r.mapped = Some(a)
                }
            }
            Ok(_) => {}
            Err(_) => {
                r.malformed = true;
                break;
            }
        }
    }
    r
}

/// What a connectivity check (or consent check) carries (RFC 8445 §7.2.2).
pub(crate) struct CheckRequest<'a> {
    pub local_ufrag: &'a str,
    pub remote_ufrag: &'a str,
    pub remote_key: &'a [u8],
    pub priority: u32,
    pub role: RoleAttr,
    pub use_candidate: bool,
}

/// Writes a connectivity check into `buf`: USERNAME "remote:local",
/// PRIORITY, ICE-CONTROLLING/CONTROLLED, USE-CANDIDATE, MESSAGE-INTEGRITY
/// with the remote password, FINGERPRINT (RFC 8445 §7.2.2).
pub(crate) fn write_check(buf: &mut Vec<u8>, tid: TransactionId, req: &CheckRequest<'_>) -> bool {
    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, tid);
    // USERNAME is at most 513 bytes: two ufrags of at most 256 and a colon.
    let mut name = [0u8; 513];
    let Some(username) = join_username(&mut name, req.remote_ufrag, req.local_ufrag) else {
        return false;
    };
    let role = if req.role.controlling {
        Attribute::IceControlling(req.role.tie_breaker)
    } else {
        Attribute::IceControlled(req.role.tie_breaker)
    };
    let ok = b.add(&Attribute::Username(username)).is_ok()
        && b.add(&Attribute::Priority(req.priority)).is_ok()
        && b.add(&role).is_ok()
        && (!req.use_candidate || b.add(&Attribute::UseCandidate).is_ok())
        && b.try_add_message_integrity(req.remote_key).is_ok()
        && b.try_add_fingerprint().is_ok();
    b.finish();
    ok
}

/// `a:b` in `out` without allocating.
fn join_username<'o>(out: &'o mut [u8; 513], a: &str, b: &str) -> Option<&'o str> {
    let len = a.len() + 1 + b.len();
    let dst = out.get_mut(..len)?;
    let (first, rest) = dst.split_at_mut(a.len());
    first.copy_from_slice(a.as_bytes());
    let (colon, second) = rest.split_first_mut()?;
    *colon = b':';
    second.copy_from_slice(b.as_bytes());
    std::str::from_utf8(dst).ok()
}

/// Writes a plain Binding request to a STUN server (RFC 8489 §6, RFC 8445
/// §5.1.1.2): no credentials, FINGERPRINT only.
pub(crate) fn write_server_binding(buf: &mut Vec<u8>, tid: TransactionId) -> bool {
    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, tid);
    let ok = b.try_add_fingerprint().is_ok();
    b.finish();
    ok
}

/// Writes the success response to a check: XOR-MAPPED-ADDRESS = the
/// request's source, MESSAGE-INTEGRITY with the local password,
/// FINGERPRINT (RFC 8445 §7.3.1.1 and RFC 8489 §7.3.1).
pub(crate) fn write_success(
    buf: &mut Vec<u8>,
    tid: TransactionId,
    mapped: SocketAddr,
    key: &[u8],
) -> bool {
    let mut b = MessageBuilder::new(buf, Class::SuccessResponse, Method::BINDING, tid);
    let ok = b.add(&Attribute::XorMappedAddress(mapped)).is_ok()
        && b.try_add_message_integrity(key).is_ok()
        && b.try_add_fingerprint().is_ok();
    b.finish();
    ok
}

/// Writes an error response (400, 401, 420 or 487), with MESSAGE-INTEGRITY
/// when the request was authenticated (`key`). A 420 lists the `unknown`
/// attribute types in UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1.1, §14.13).
pub(crate) fn write_error(
    buf: &mut Vec<u8>,
    tid: TransactionId,
    code: u16,
    unknown: &[u16],
    key: Option<&[u8]>,
) -> bool {
    let reason = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        420 => "Unknown Attribute",
        487 => "Role Conflict",
        _ => "Error",
    };
    let mut b = MessageBuilder::new(buf, Class::ErrorResponse, Method::BINDING, tid);
    let mut ok = b.add(&Attribute::ErrorCode { code, reason }).is_ok();
    if code == 420 {
        ok = ok
            && b.add(&Attribute::UnknownAttributes(UnknownAttributes::new(
                unknown,
            )))
            .is_ok();
    }
    if let Some(key) = key {
        ok = ok && b.try_add_message_integrity(key).is_ok();
    }
    ok = ok && b.try_add_fingerprint().is_ok();
    b.finish();
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_carries_username_priority_role_use_candidate_and_verifies() {
        let mut buf = Vec::new();
        let tid = TransactionId([7; 12]);
        let req = CheckRequest {
            local_ufrag: "LOCL",
            remote_ufrag: "REMOTE",
            remote_key: b"remotepasswordremotepassword",
            priority: 1_845_501_695,
            role: RoleAttr {
                controlling: true,
                tie_breaker: 42,
            },
            use_candidate: true,
        };
        assert!(write_check(&mut buf, tid, &req));
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.class(), Class::Request);
        assert_eq!(msg.transaction_id(), tid);
        msg.verify_message_integrity(b"remotepasswordremotepassword")
            .unwrap();
        msg.verify_fingerprint().unwrap();
        let r = read(&msg);
        assert_eq!(r.username, Some("REMOTE:LOCL"));
        assert_eq!(r.priority, Some(1_845_501_695));
        assert!(r.use_candidate);
        assert_eq!(
            r.role,
            Some(RoleAttr {
                controlling: true,
                tie_breaker: 42
            })
        );
    }

    #[test]
    fn error_responses_carry_the_code() {
        let mut buf = Vec::new();
        assert!(write_error(
            &mut buf,
            TransactionId([1; 12]),
            487,
            &[],
            Some(b"k")
        ));
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.class(), Class::ErrorResponse);
        assert_eq!(read(&msg).error_code, Some(487));
        msg.verify_message_integrity(b"k").unwrap();
    }
}

/// The local username fragment a connectivity check is addressed to: the
/// part of its USERNAME before the colon (RFC 8445 §7.2.2, "RFRAG:LFRAG" as
/// the sender writes it, so ours comes first). `None` for anything that is
/// not a STUN Binding request carrying a USERNAME.
///
/// This is how one UDP port can serve many connections: a check names the
/// connection it is for; everything else is routed by its source address.
pub fn check_recipient(datagram: &[u8]) -> Option<&str> {
    let msg = Message::parse(datagram).ok()?;
    if msg.class() != Class::Request || msg.method() != Method::BINDING {
        return None;
    }
    let username = msg.attributes().find_map(|a| match a {
        Ok(Attribute::Username(u)) => Some(u),
        _ => None,
    })?;
    username.split_once(':').map(|(local, _)| local)
}

#[cfg(test)]
mod check_recipient_tests {
    use super::*;

    fn binding(class: Class, username: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(&mut out, class, Method::BINDING, TransactionId([7; 12]));
        if let Some(u) = username {
            b.add(&Attribute::Username(u)).unwrap();
        }
        b.finish();
        out
    }

    #[test]
    fn a_check_names_the_local_fragment_before_the_colon() {
        let request = binding(Class::Request, Some("ours:theirs"));
        assert_eq!(check_recipient(&request), Some("ours"));
    }

    #[test]
    fn responses_checks_without_username_and_other_data_name_nobody() {
        assert_eq!(
            check_recipient(&binding(Class::SuccessResponse, Some("a:b"))),
            None
        );
        assert_eq!(check_recipient(&binding(Class::Request, None)), None);
        assert_eq!(
            check_recipient(&binding(Class::Request, Some("nocolon"))),
            None
        );
        assert_eq!(check_recipient(&[22, 254, 253, 0, 0]), None);
        assert_eq!(check_recipient(&[]), None);
    }
}
