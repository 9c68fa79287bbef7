//! `ferrtc peer --dtmf TONES`: the tones sent on the first audio sender
//! once the connection is up (W3C `insertDTMF` with its default 100 ms
//! tones and 70 ms gaps), and every tone the peer sends logged on stderr
//! as a line ending in `dtmf received: X`.

use std::time::Duration;

use ferrtc::{PeerConnection, PeerConnectionState, RtpReceiver, RtpSender};

/// W3C `insertDTMF` defaults.
const DURATION: Duration = Duration::from_millis(100);
const GAP: Duration = Duration::from_millis(70);
/// How long to wait for the connection before giving the tones up.
const CONNECT: Duration = Duration::from_secs(30);

/// Whether `tones` are all characters `insertDTMF` takes (`0-9 A-D # * ,`,
/// any case); the first other one otherwise (or a space for none at all:
/// no tone would play, and no `tonechange` would end the wait).
pub fn check(tones: &str) -> Result<(), char> {
    if tones.is_empty() {
        return Err(' ');
    }
    match tones
        .chars()
        .find(|c| !matches!(c.to_ascii_uppercase(), '0'..='9' | 'A'..='D' | '#' | '*' | ','))
    {
        Some(c) => Err(c),
        None => Ok(()),
    }
}

/// Sends `tones` on `sender` once `pc` is connected, logging each tone as
/// it starts.
pub async fn send(pc: PeerConnection, sender: RtpSender, tones: String) {
    let Some(dtmf) = sender.dtmf() else {
        return;
    };
    let connected = async {
        loop {
            match pc.connection_state().await {
                PeerConnectionState::Connected => return true,
                PeerConnectionState::Failed | PeerConnectionState::Closed => return false,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    if !tokio::time::timeout(CONNECT, connected)
        .await
        .unwrap_or(false)
    {
        tracing::error!("dtmf: the connection did not come up; tones not sent");
        return;
    }
    // The handle made above sees every tonechange from here on.
    if let Err(e) = dtmf.insert_dtmf(&tones, DURATION, GAP).await {
        tracing::error!("dtmf: {tones:?} not sent: {e}");
        return;
    }
    while let Some(change) = dtmf.next_tone_change().await {
        if change.tone.is_empty() {
            tracing::info!("dtmf sent: {tones}");
            return;
        }
        tracing::info!("dtmf sending: {}", change.tone);
    }
}

/// Logs every tone the peer sends on an audio receiver, one line each.
pub async fn log_received(receiver: RtpReceiver) {
    while let Some(t) = receiver.next_dtmf_tone().await {
        tracing::info!("dtmf received: {}", t.tone);
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn tones_are_those_insert_dtmf_takes() {
        assert_eq!(check("0123456789ABCDabcd#*,"), Ok(()));
        assert_eq!(check("12x"), Err('x'));
        assert_eq!(check("1 2"), Err(' '));
        assert_eq!(check(""), Err(' '));
    }
}
