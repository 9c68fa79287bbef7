//! `ferrtc send FILE` and `ferrtc recv --out DIR`: one file over a
//! reliable, ordered data channel named `file`, with stdio signaling or a
//! signaling server's room (`send --signal URL --name a --call b`,
//! `recv --signal URL --name b`).
//!
//! Framing (version 1), all on the one channel:
//! 1. sender -> receiver, text: `{"name":"NAME","size":N}` (NAME is the file
//!    name without directories);
//! 2. sender -> receiver, binary: the file's bytes in order, in messages of
//!    at most 16 KiB;
//! 3. sender -> receiver, text: `{"sha256":"HEX"}` of the whole file;
//! 4. receiver -> sender, text: `{"ok":true,"sha256":"HEX"}` once the file is
//!    written and its size and digest match, else `{"ok":false,"error":"..."}`.
//!
//! The receiver writes the bytes to a file of its own in DIR and renames it
//! to NAME only once size and digest match: a failed transfer leaves DIR as
//! it was.
//!
//! The sender offers; the receiver answers. Both exit 0 when the transfer
//! was confirmed, 1 when it failed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use ferrtc::{DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::media::Media;
use crate::peer::{CliError, End, PeerOptions, open_signaling, session};

/// Size of each data message.
const CHUNK: usize = 16 * 1024;

/// The first message.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    name: String,
    size: u64,
}

/// The last message from the sender.
#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    sha256: String,
}

/// The receiver's verdict.
#[derive(Debug, Serialize, Deserialize)]
struct Verdict {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A progress line on stderr, only when stderr is a terminal.
struct Progress {
    total: u64,
    shown: Option<Instant>,
    enabled: bool,
    start: Instant,
}

impl Progress {
    fn new(total: u64) -> Self {
        Progress {
            total,
            shown: None,
            enabled: std::io::stderr().is_terminal(),
            start: Instant::now(),
        }
    }

    fn update(&mut self, done: u64) {
        if !self.enabled
            || self
                .shown
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.shown = Some(Instant::now());
        let pct = (done * 100).checked_div(self.total).unwrap_or(100);
        let bar = "#".repeat((pct / 4) as usize);
        let rate = done as f64 / 1048576.0 / self.start.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\r[{bar:<25}] {pct:>3}% {done}/{} bytes {rate:.1} MiB/s",
            self.total
        );
    }

    fn finish(&mut self, done: u64) {
        if self.enabled {
            self.shown = None;
            self.update(done);
            eprintln!();
        }
    }
}

async fn next_message(dc: &DataChannel) -> Result<DataChannelMessage, String> {
    loop {
        match dc.recv().await {
            Some(DataChannelEvent::Message(m)) => return Ok(std::sync::Arc::unwrap_or_clone(m)),
            Some(DataChannelEvent::Close) | None => return Err("channel closed".into()),
            Some(_) => {}
        }
    }
}

async fn next_text<T: for<'de> Deserialize<'de>>(dc: &DataChannel) -> Result<T, String> {
    match next_message(dc).await? {
        DataChannelMessage::Text(t) => {
            serde_json::from_str(&t).map_err(|e| format!("bad control message: {e}"))
        }
        DataChannelMessage::Binary(_) => Err("expected a text control message".into()),
    }
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Opens FILE to send: a regular file that can be read, or the error
/// naming it.
async fn open_file(path: &Path) -> Result<(tokio::fs::File, u64), std::io::Error> {
    let named =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    // Checked before opening: opening a named pipe would wait for a writer.
    let meta = tokio::fs::metadata(path).await.map_err(named)?;
    if !meta.is_file() {
        return Err(std::io::Error::other(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    let file = tokio::fs::File::open(path).await.map_err(named)?;
    let meta = file.metadata().await.map_err(named)?;
    Ok((file, meta.len()))
}

async fn send_file(
    dc: DataChannel,
    mut file: tokio::fs::File,
    size: u64,
    path: PathBuf,
) -> Result<(), String> {
    dc.wait_open().await.map_err(|e| e.to_string())?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    // The receiver may refuse at any point (a bad name, a full disk, step
    // 4 of the framing): its verdict is watched from the header on, and a
    // refusal stops the sending with the receiver's reason.
    let verdict = next_text::<Verdict>(&dc);
    let mut verdict = std::pin::pin!(verdict);
    let header = Header { name, size };
    dc.send_text(&to_json(&header))
        .await
        .map_err(|e| e.to_string())?;
    let digest = tokio::select! {
        early = &mut verdict => return Err(early_verdict(early)),
        digest = send_data(&dc, &mut file, size) => digest?,
    };
    dc.send_text(&to_json(&Trailer {
        sha256: digest.clone(),
    }))
    .await
    .map_err(|e| e.to_string())?;
    judge(verdict.await?, &digest)?;
    tracing::info!("sent {} ({size} bytes, sha256 {digest})", path.display());
    Ok(())
}

/// Sends the file's bytes (step 2 of the framing); returns their SHA-256.
async fn send_data(
    dc: &DataChannel,
    file: &mut tokio::fs::File,
    size: u64,
) -> Result<String, String> {
    let mut hash = digest::Context::new(&digest::SHA256);
    let mut progress = Progress::new(size);
    let mut sent = 0u64;
    loop {
        let mut buf = vec![0; CHUNK];
        let n = file.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        hash.update(&buf);
        sent += n as u64;
        dc.send(buf, true).await.map_err(|e| e.to_string())?;
        progress.update(sent);
    }
    progress.finish(sent);
    if sent != size {
        return Err(format!(
            "file changed while sending ({sent} of {size} bytes)"
        ));
    }
    Ok(hex(hash.finish().as_ref()))
}

/// The error for a verdict that came before the trailer was sent.
fn early_verdict(verdict: Result<Verdict, String>) -> String {
    match verdict {
        Ok(Verdict {
            ok: false, error, ..
        }) => refused(error),
        Ok(_) => "the receiver confirmed the file before it was sent".into(),
        Err(e) => e,
    }
}

/// Checks the receiver's verdict on the file whose SHA-256 is `digest`.
fn judge(verdict: Verdict, digest: &str) -> Result<(), String> {
    match verdict {
        Verdict {
            ok: true,
            sha256: Some(h),
            ..
        } if h == digest => Ok(()),
        Verdict {
            ok: true,
            sha256: Some(h),
            ..
        } => Err(format!(
            "the receiver confirmed SHA-256 {h}, not the file's {digest}"
        )),
        Verdict {
            ok: true,
            sha256: None,
            ..
        } => Err("the receiver confirmed the file without its SHA-256".into()),
        Verdict {
            ok: false, error, ..
        } => Err(refused(error)),
    }
}

fn refused(error: Option<String>) -> String {
    format!(
        "receiver refused: {}",
        error.unwrap_or_else(|| "no reason given".into())
    )
}

async fn recv_file(
    mut channels: tokio::sync::mpsc::UnboundedReceiver<DataChannel>,
    dir: PathBuf,
    outcome: &std::cell::RefCell<Option<Result<(), String>>>,
) -> Result<(), String> {
    let dc = channels.recv().await.ok_or("no data channel")?;
    let result = receive_into(&dc, &dir).await;
    // The outcome is known: the sender may hang up from now on (it does
    // as soon as it reads the verdict), and the exit reports this outcome,
    // not the hang-up.
    *outcome.borrow_mut() = Some(result.clone().map(|_| ()));
    let verdict = match &result {
        Ok(digest) => Verdict {
            ok: true,
            sha256: Some(digest.clone()),
            error: None,
        },
        Err(e) => Verdict {
            ok: false,
            sha256: None,
            error: Some(e.clone()),
        },
    };
    // A sender gone mid-way cannot read the verdict: the failure to send
    // it is only logged, the transfer's own outcome is what counts.
    if let Err(e) = dc.send_text(&to_json(&verdict)).await {
        tracing::debug!("verdict not sent: {e}");
    } else {
        // Let the verdict leave before the connection closes.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    result.map(|_| ())
}

async fn receive_into(dc: &DataChannel, dir: &Path) -> Result<String, String> {
    let header: Header = next_text(dc).await?;
    // Only a plain file name: nothing may escape DIR.
    let name = Path::new(&header.name)
        .file_name()
        .filter(|n| *n == std::ffi::OsStr::new(&header.name))
        .ok_or_else(|| format!("refused file name {:?}", header.name))?;
    let path = dir.join(name);
    let (mut file, mut partial) = Partial::create(dir).await?;
    let mut hash = digest::Context::new(&digest::SHA256);
    let mut progress = Progress::new(header.size);
    let mut got = 0u64;
    while got < header.size {
        let message = next_message(dc)
            .await
            .map_err(|e| format!("{e} after {got} of {} bytes", header.size))?;
        match message {
            DataChannelMessage::Binary(b) => {
                got += b.len() as u64;
                if got > header.size {
                    return Err("more data than announced".into());
                }
                hash.update(&b);
                file.write_all(&b).await.map_err(|e| e.to_string())?;
                progress.update(got);
            }
            DataChannelMessage::Text(_) => {
                return Err("control message before the end of the data".into());
            }
        }
    }
    progress.finish(got);
    file.flush().await.map_err(|e| e.to_string())?;
    let trailer: Trailer = next_text(dc).await?;
    let digest = hex(hash.finish().as_ref());
    if trailer.sha256 != digest {
        return Err(format!(
            "SHA-256 mismatch: sender {}, received {digest}",
            trailer.sha256
        ));
    }
    drop(file);
    partial.keep_as(&path).await?;
    tracing::info!("received {} ({got} bytes, sha256 {digest})", path.display());
    Ok(digest)
}

/// The file being received, under a name of its own in DIR until its
/// size and SHA-256 are checked: only then is it renamed to the announced
/// name (replacing a file of that name), so that a transfer that fails or
/// stops mid-way leaves nothing that passes for the file and does not
/// touch a file already there. Dropped before [`keep_as`](Self::keep_as),
/// it is removed.
struct Partial {
    path: PathBuf,
    kept: bool,
}

impl Partial {
    /// A new file in `dir` (never an existing one: `create_new`).
    async fn create(dir: &Path) -> Result<(tokio::fs::File, Partial), String> {
        let mut n = 0u32;
        loop {
            let path = dir.join(format!(".ferrtc-recv-{}-{n}.part", std::process::id()));
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(file) => return Ok((file, Partial { path, kept: false })),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
    }

    /// Renames the checked file to `path`.
    async fn keep_as(&mut self, path: &Path) -> Result<(), String> {
        tokio::fs::rename(&self.path, path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The command's result: the work's own, or when signaling ended or the
/// connection failed first, `outcome` (the transfer's result once known)
/// or else which of the two ended it.
fn finish(end: End, outcome: Option<Result<(), String>>) -> Result<(), CliError> {
    let result = match (end, outcome) {
        (End::Work(r), _) | (End::Signaling | End::Failed, Some(r)) => r,
        (End::Signaling, None) => Err("signaling ended before the transfer".into()),
        (End::Failed, None) => Err("the connection to the peer failed".into()),
    };
    Ok(result?)
}

/// `ferrtc send FILE --signal stdio|URL`.
pub async fn send(path: PathBuf, opts: PeerOptions) -> Result<(), CliError> {
    // A FILE that cannot be sent is said now, not once a peer has come.
    let (file, size) = open_file(&path).await?;
    let mut signaling = open_signaling(&opts.signal).await?;
    let pc = crate::peer::connect(&opts)?;
    let dc = pc
        .create_data_channel("file", DataChannelInit::default())
        .await?;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    finish(
        session(
            &pc,
            true,
            tx,
            send_file(dc, file, size, path),
            &mut Media::default(),
            &mut signaling,
            true,
        )
        .await?,
        None,
    )
}

/// `ferrtc recv [--out DIR] --signal stdio|URL`.
pub async fn recv(dir: PathBuf, opts: PeerOptions) -> Result<(), CliError> {
    // An --out that cannot take the file is said now, not once a peer has
    // come.
    match tokio::fs::metadata(&dir).await {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(
                std::io::Error::other(format!("--out {}: not a directory", dir.display())).into(),
            );
        }
        Err(e) => {
            return Err(
                std::io::Error::new(e.kind(), format!("--out {}: {e}", dir.display())).into(),
            );
        }
    }
    let mut signaling = open_signaling(&opts.signal).await?;
    let pc = crate::peer::connect(&opts)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = std::cell::RefCell::new(None);
    let end = session(
        &pc,
        false,
        tx,
        recv_file(rx, dir, &outcome),
        &mut Media::default(),
        &mut signaling,
        true,
    )
    .await?;
    finish(end, outcome.take())
}
