//! The HTTP/1.1 accept loop under the routes: hyper's connection with a
//! timer, so that a request head that does not arrive in time closes the
//! connection (a client sending half a request and then nothing,
//! "slowloris", would otherwise hold a socket and a task for ever, outside
//! `max_connections`), and a bound on the connections that are not (yet) a
//! WebSocket.
//!
//! RFC 9112 §9.3 lets a server close a persistent connection it no longer
//! wants, and §9.8 an idle one; hyper's `header_read_timeout` runs while a
//! request head is awaited, first request or next one of a kept-alive
//! connection. After an upgrade the connection is the WebSocket session's,
//! under its own limits.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tower::ServiceExt;

/// HTTP connections open at once that are not WebSocket sessions (yet):
/// past it, new connections wait in the listener's backlog until one ends.
/// Each is held at most a header timeout while idle.
pub(crate) const MAX_HTTP_CONNECTIONS: usize = 1024;

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, lets each connection finish its request (hyper's graceful
/// shutdown) and returns when they are all done. Handlers get the client's
/// address as `ConnectInfo<std::net::SocketAddr>`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection task holds a clone; `recv` returns `None` once all
    // are gone.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                request.map(Body::new)
            });
        let mut stop = stop_rx.clone();
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(error) = result {
                            tracing::trace!(%remote, %error, "http connection ended");
                        }
                        break;
                    }
                    changed = stop.changed(), if !stopping => {
                        stopping = true;
                        if changed.is_ok() {
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            drop(permit);
            drop(alive);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_tx);
    let _ = alive_rx.recv().await;
    Ok(())
}

/// An `accept` that failed: a connection reset before it was accepted is
/// nothing; running out of file descriptors (or memory) is waited out, so
/// that the loop does not spin.
async fn accept_failed(error: &io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionReset => {}
        _ => {
            tracing::warn!(%error, "accept failed; retrying in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
