//! coturn's load client `turnutils_uclient` against `ferrtc turn` on
//! 127.0.0.1, with coturn's `turnutils_peer` as the echo peer: no loss over
//! UDP and TCP, with a users file and with TURN REST API credentials, and
//! the server's counters agree with the client's.
//!
//! uclient runs with `-s` (Send/Data indications): its channel numbers
//! follow RFC 5766 (0x4000..=0x7FFF) and `ferrtc turn` refuses numbers
//! above 0x4FFF with 400 as RFC 8656 §12 says; channels are covered by the
//! ferrtc-turn client tests. `-c` leaves out the RTCP allocations.
//!
//! Runs only with FERRTC_INTEROP=1; then a missing coturn tool fails.
#![allow(missing_docs)]

mod pc_common;
mod turn_server_common;

use ferrtc_interop::{TempPath, free_udp_port, interop_enabled};
use turn_server_common::{echo_peer, ferrtc_turn, http_get, metric, uclient};

/// The users file, removed when dropped.
fn users_file() -> TempPath {
    TempPath::file(
        format!("ferrtc-turn-uclient-users-{}", std::process::id()),
        "alice:wonderland\n",
    )
}

#[test]
fn uclient_relays_through_ferrtc_turn_over_udp_and_tcp_without_loss() {
    if !interop_enabled() {
        return;
    }
    let users = users_file();
    let bin = pc_common::ferrtc_bin();
    let turn = ferrtc_turn(
        &bin,
        &[
            "--users",
            users.to_str().unwrap(),
            "--allow-loopback",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let peer_port = free_udp_port();
    let _peer = echo_peer(peer_port);
    let peer = peer_port.to_string();
    let common = [
        "-s",
        "-c",
        "-u",
        "alice",
        "-w",
        "wonderland",
        "-e",
        "127.0.0.1",
        "-r",
        &peer,
        "-n",
        "200",
        "-m",
        "4",
        "-l",
        "120",
        "-z",
        "5",
    ];
    let (udp, out) = uclient(&common, turn.udp.port());
    assert_eq!(
        udp.lost,
        Some(0),
        "UDP: {udp:?}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!((udp.sent, udp.received), (800, 800), "{udp:?}");
    let mut tcp_args = vec!["-t"];
    tcp_args.extend_from_slice(&common);
    let (tcp, out) = uclient(&tcp_args, turn.tcp.port());
    assert_eq!(
        tcp.lost,
        Some(0),
        "TCP: {tcp:?}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!((tcp.sent, tcp.received), (800, 800), "{tcp:?}");
    let text = http_get(turn.metrics.expect("metrics"), "/metrics");
    assert_eq!(
        metric(
            &text,
            "ferrtc_turn_relayed_packets_total{direction=\"to_peer\"}"
        ),
        Some(1600),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "ferrtc_turn_relayed_packets_total{direction=\"to_client\"}"
        ),
        Some(1600),
        "{text}"
    );
    assert_eq!(
        metric(&text, "ferrtc_turn_drops_total{reason=\"bandwidth\"}"),
        Some(0),
        "{text}"
    );
}

#[test]
fn uclient_with_turn_rest_api_credentials_relays_without_loss() {
    if !interop_enabled() {
        return;
    }
    let bin = pc_common::ferrtc_bin();
    let turn = ferrtc_turn(
        &bin,
        &[
            "--secret",
            "s3cret",
            "--realm",
            "ferrtc.test",
            "--allow-loopback",
        ],
    );
    let peer_port = free_udp_port();
    let _peer = echo_peer(peer_port);
    let peer = peer_port.to_string();
    let args = [
        "-s",
        "-c",
        "-W",
        "s3cret",
        "-u",
        "carol",
        "-e",
        "127.0.0.1",
        "-r",
        &peer,
        "-n",
        "100",
        "-m",
        "2",
        "-l",
        "100",
        "-z",
        "5",
    ];
    let (load, out) = uclient(&args, turn.udp.port());
    assert_eq!(
        load.lost,
        Some(0),
        "{load:?}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(load.received, 200, "{load:?}");
    // A wrong secret does not allocate.
    let wrong = [
        "-s",
        "-c",
        "-W",
        "not-the-secret",
        "-u",
        "carol",
        "-e",
        "127.0.0.1",
        "-r",
        &peer,
        "-n",
        "5",
        "-m",
        "1",
    ];
    let (load, _) = uclient(&wrong, turn.udp.port());
    assert_eq!(load.received, 0, "{load:?}");
}
