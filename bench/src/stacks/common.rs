//! What is the same for every async stack: the runtime, and the setup and
//! connections workloads around the stack's own "open a pair".

use std::future::Future;
use std::time::{Duration, Instant};

use crate::proc::{cpu_seconds, median, peak_rss_mib, rss_mib};
use crate::workload::{Sample, Workload};

/// Pairs opened at the same time in the connections workload.
const BATCH: usize = 64;
/// A connections run that has not finished by then is reported as failed.
const CONNECTIONS_LIMIT: Duration = Duration::from_secs(120);
/// One pair of the setup workload must open within this.
const SETUP_LIMIT: Duration = Duration::from_secs(30);

/// The workloads as an async stack implements them.
pub trait AsyncStack {
    /// Name in the table.
    const NAME: &'static str;
    /// A connected pair with its channel open on both sides.
    type Pair: Send + 'static;
    /// Crate version shown in the table.
    fn version() -> String;
    /// Opens a pair.
    fn open_pair() -> impl Future<Output = Result<Self::Pair, String>> + Send + 'static;
    /// Closes a pair.
    fn close(pair: Self::Pair) -> impl Future<Output = ()>;
    /// Workload 1.
    fn throughput(bytes: u64, message_size: usize) -> impl Future<Output = Result<Sample, String>>;
    /// Workload 4.
    fn small_messages(
        count: u64,
        message_size: usize,
    ) -> impl Future<Output = Result<Sample, String>>;
    /// Workload 3; the default opens `open_pair` in batches.
    fn connections(n: usize) -> impl Future<Output = Result<Sample, String>> {
        connections::<Self, _>(n, Self::open_pair)
    }
}

/// Runs `w` on a tokio multi-thread runtime and labels the sample.
pub fn run<S: AsyncStack>(w: Workload) -> Result<Sample, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut sample = rt.block_on(async move {
        match w {
            Workload::Throughput {
                bytes,
                message_size,
            } => S::throughput(bytes, message_size).await,
            Workload::Setup { rounds } => setup::<S>(rounds).await,
            Workload::Connections { pairs } => S::connections(pairs).await,
            Workload::SmallMessages {
                count,
                message_size,
            } => S::small_messages(count, message_size).await,
            // `stacks::run` sends it to `crate::rtp`, not here.
            Workload::Rtp { .. } | Workload::Forward { .. } => Err(super::RTP_ELSEWHERE.into()),
        }
    })?;
    sample.stack = S::NAME.into();
    sample.version = S::version();
    sample.peak_rss_mib = peak_rss_mib();
    Ok(sample)
}

/// Workload 2: `rounds` pairs opened one after the other; median ms.
async fn setup<S: AsyncStack + ?Sized>(rounds: usize) -> Result<Sample, String> {
    let mut ms = Vec::with_capacity(rounds);
    let cpu0 = cpu_seconds();
    let t_all = Instant::now();
    for _ in 0..rounds {
        let t0 = Instant::now();
        let pair = tokio::time::timeout(SETUP_LIMIT, S::open_pair())
            .await
            .map_err(|_| format!("a pair did not open within {} s", SETUP_LIMIT.as_secs()))??;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        S::close(pair).await;
    }
    Ok(Sample {
        secs: t_all.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds() - cpu0,
        setup_median_ms: Some(median(&mut ms)),
        ..Default::default()
    })
}

/// Workload 3: `n` pairs opened [`BATCH`] at a time with `open`, all kept
/// until the figures are taken.
pub async fn connections<S: AsyncStack + ?Sized, F>(
    n: usize,
    open: impl Fn() -> F,
) -> Result<Sample, String>
where
    F: Future<Output = Result<S::Pair, String>> + Send + 'static,
{
    let rss0 = rss_mib();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut pairs = Vec::with_capacity(n);
    let result = tokio::time::timeout(CONNECTIONS_LIMIT, async {
        while pairs.len() < n {
            let batch = BATCH.min(n - pairs.len());
            let tasks: Vec<_> = (0..batch).map(|_| tokio::spawn(open())).collect();
            for t in tasks {
                pairs.push(t.await.map_err(|e| e.to_string())??);
            }
        }
        Ok::<(), String>(())
    })
    .await;
    let secs = t0.elapsed().as_secs_f64();
    let outcome = match result {
        Ok(Ok(())) => Ok(crate::connections_sample(
            n,
            secs,
            cpu_seconds() - cpu0,
            rss0,
        )),
        Ok(Err(e)) => Err(format!("{} of {n} pairs open, then: {e}", pairs.len())),
        Err(_) => Err(format!(
            "{} of {n} pairs open after {} s",
            pairs.len(),
            CONNECTIONS_LIMIT.as_secs()
        )),
    };
    for p in pairs {
        S::close(p).await;
    }
    outcome
}
