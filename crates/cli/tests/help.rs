//! `ferrtc --help` and each subcommand's `--help` list only what is built,
//! and what is not built is refused as a usage error (exit code 2).

use std::process::{Command, Output};

fn ferrtc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(args)
        .output()
        .expect("ferrtc runs")
}

fn help(args: &[&str]) -> String {
    let out = ferrtc(args);
    assert!(out.status.success(), "{args:?} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Commands and flags of the contract that are not built (none today but
/// signaling over a URL, checked below).
const NOT_BUILT: &[&str] = &[];

/// The words of `text`, lowercase (flags keep their dashes).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn no_help_text_mentions_a_command_or_flag_that_is_not_built() {
    for args in [
        &["--help"][..],
        &["peer", "--help"],
        &["send", "--help"],
        &["recv", "--help"],
        &["demo", "--help"],
        &["signal", "--help"],
        &["bench", "--help"],
    ] {
        let text = help(args);
        let words = words(&text);
        let not_built = if args == ["--help"] { NOT_BUILT } else { &[] };
        for word in not_built {
            assert!(
                !words.iter().any(|w| w == word),
                "`ferrtc {}` mentions {word:?}:\n{text}",
                args.join(" ")
            );
        }
    }
}

#[test]
fn the_built_commands_and_peer_flags_are_listed() {
    let top = help(&["--help"]);
    for command in ["demo", "signal", "peer", "send", "recv", "bench"] {
        assert!(top.contains(command), "no {command} in:\n{top}");
    }
    let peer = help(&["peer", "--help"]);
    for flag in [
        "--signal",
        "--offer",
        "--channel",
        "--echo",
        "--ice-server",
        "--ice-username",
        "--ice-credential",
        "--relay-only",
        "--play",
        "--record",
        "--dtmf",
        "--name",
        "--room",
        "--call",
    ] {
        assert!(peer.contains(flag), "no {flag} in:\n{peer}");
    }
}

#[test]
fn what_is_not_built_exits_with_a_usage_error() {
    for args in [
        &["peer", "--play", "x.webm"][..],
        &["peer", "--dtmf", "12x"],
        &["peer", "--signal", "ws://127.0.0.1:8080/ws"],
        &["peer", "--signal", "wss://127.0.0.1:8080/ws", "--name", "a"],
        &["peer", "--name", "a"],
        &["send", "f", "--signal", "ws://127.0.0.1:8080/ws"],
        &[
            "send",
            "f",
            "--signal",
            "ws://127.0.0.1:8080/ws",
            "--name",
            "a",
        ],
    ] {
        let out = ferrtc(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "ferrtc {}: {out:?}",
            args.join(" ")
        );
    }
}

/// `demo` serves on 127.0.0.1:8080 unless told otherwise.
#[test]
fn demo_listens_on_127_0_0_1_8080_by_default() {
    let demo = help(&["demo", "--help"]);
    assert!(
        demo.lines()
            .any(|l| l.contains("--listen") && l.contains("[default: 127.0.0.1:8080]")),
        "{demo}"
    );
}
