#!/usr/bin/env python3
"""libsrtp2 (through pylibsrtp) as the reference peer for ferrtc-srtp.

One request per stdin line, one answer per stdout line:

    <op> <profile> <master key||salt hex> <packet hex>,<packet hex>,...

op is protect, unprotect, protect_rtcp or unprotect_rtcp, or one of the last
two with the suffix _auth_only for SRTCP without encryption (E flag 0,
RFC 3711 §3.4 / RFC 7714 §9.3); profile is the
DTLS-SRTP profile number (1, 2, 7, 8). Each request runs on a fresh libsrtp
session, packets in the given order, so a request is one stream's history.
The answer is the processed packets, comma separated, each either hex or
"ERR:<message>".
"""

import sys

from pylibsrtp import Error, Policy, Session
from pylibsrtp._binding import ffi

PROFILES = {
    1: Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    2: Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    7: Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    8: Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


# libsrtp's srtp_sec_serv_t value for "authentication only".
SEC_SERV_AUTH = 2


def rtcp_auth_only(policy: Policy) -> None:
    """Sets the SRTCP security services to authentication only.

    pylibsrtp declares srtp_crypto_policy_t opaquely, so write the field
    directly: sec_serv is the sixth int of the struct in libsrtp 2.x
    (cipher_type, cipher_key_len, auth_type, auth_key_len, auth_tag_len,
    sec_serv).
    """
    fields = ffi.cast("int *", ffi.addressof(policy._policy.rtcp))
    fields[5] = SEC_SERV_AUTH


def handle(line: str) -> str:
    op, profile, key, packets = line.split(" ")
    auth_only = op.endswith("_auth_only")
    op = op.removesuffix("_auth_only")
    outbound = op.startswith("protect")
    policy = Policy(
        key=bytes.fromhex(key),
        ssrc_type=Policy.SSRC_ANY_OUTBOUND if outbound else Policy.SSRC_ANY_INBOUND,
        srtp_profile=PROFILES[int(profile)],
    )
    if auth_only:
        rtcp_auth_only(policy)
    session = Session(policy=policy)
    func = getattr(session, op)
    out = []
    for packet in packets.split(","):
        try:
            out.append(func(bytes.fromhex(packet)).hex())
        except Error as e:
            out.append("ERR:" + str(e).replace(" ", "_").replace(",", ";"))
    return ",".join(out)


def main() -> None:
    for line in sys.stdin:
        line = line.strip()
        if line:
            print(handle(line), flush=True)


if __name__ == "__main__":
    main()
