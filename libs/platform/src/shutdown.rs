//! Turning SIGTERM and SIGINT into a [`CancellationToken`] that the server, and any
//! background task of a service, watch to stop.

use tokio_util::sync::CancellationToken;

/// A token cancelled at the first SIGTERM (k8s stopping the pod) or SIGINT
/// (Ctrl-C). Must be called inside a Tokio runtime.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutdown requested");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch SIGTERM; only Ctrl-C stops the service");
            return wait_for_ctrl_c().await;
        }
    };
    tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        name = wait_for_ctrl_c() => name,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    wait_for_ctrl_c().await
}

async fn wait_for_ctrl_c() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "SIGINT",
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch Ctrl-C");
            std::future::pending().await
        }
    }
}
