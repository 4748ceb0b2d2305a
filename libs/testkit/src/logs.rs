//! Everything a test's services log, to check what must never appear in logs
//! (personal data, card numbers), kept apart from every other test's logs
//! whether the tests run one per process (nextest) or many per process on
//! several threads (cargo test).
//!
//! How: one process-global subscriber, installed at the first capture, writes
//! each event to the captures of the Tokio runtime that produced it. Every
//! `#[tokio::test]` has a runtime of its own, and every task of the services a
//! test starts runs on it (on any worker thread, `spawn_blocking` included),
//! so a test sees all of its own services' events and none of another test's.
//! Events from outside any runtime (a plain thread) are captured nowhere.
//!
//! Why not a per-thread default subscriber (`tracing::subscriber::set_default`),
//! as before: `tracing` caches per callsite, process-wide, whether any
//! subscriber wants its events. While exactly one subscriber is registered,
//! that cache is filled from the default of whichever thread reaches the
//! callsite first; when that is another test's thread, which has no
//! subscriber, the callsite is cached as "never" and the capturing test loses
//! its events there, but only under cargo test. The global subscriber here
//! answers "sometimes" for every callsite, so the choice is made per event and
//! never cached. A test that needs a whole subscriber of its own (e.g. with an
//! OpenTelemetry layer) sets it with [`set_default`], which installs the global
//! one first for the same reason.

use std::{
    collections::HashMap,
    io::Write,
    sync::{
        Arc, Mutex, OnceLock, RwLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::runtime::{self, Handle};
use tracing::{Dispatch, subscriber::DefaultGuard};
use tracing_subscriber::{
    Layer as _, filter::dynamic_filter_fn, fmt::MakeWriter, layer::SubscriberExt as _,
};

/// Captures every event, at every level, of the Tokio runtime it is started
/// in, until dropped.
pub struct CapturedLogs {
    buffer: Buffer,
    runtime: runtime::Id,
    token: u64,
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn append(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
    }
}

/// The captures of each runtime that has any, each with its token.
type Routes = HashMap<runtime::Id, Vec<(u64, Buffer)>>;

static ROUTES: OnceLock<RwLock<Routes>> = OnceLock::new();
/// How many captures exist, so events pay for a lookup only while one does.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

fn routes() -> &'static RwLock<Routes> {
    ROUTES.get_or_init(Default::default)
}

/// Calls `f` with the captures of the runtime this thread runs for, if any.
fn with_current<T>(f: impl FnOnce(&[(u64, Buffer)]) -> T) -> T {
    if ACTIVE.load(Ordering::Acquire) == 0 {
        return f(&[]);
    }
    let Ok(handle) = Handle::try_current() else {
        return f(&[]);
    };
    let routes = routes()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(routes.get(&handle.id()).map_or(&[], Vec::as_slice))
}

/// Writes an event to the captures of the runtime that produced it.
struct RoutedWriter;

/// One event's output, for the captures that were current when it began.
struct RoutedWrite(Vec<Buffer>);

impl Write for RoutedWrite {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for buffer in &self.0 {
            buffer.append(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RoutedWriter {
    type Writer = RoutedWrite;

    fn make_writer(&'a self) -> RoutedWrite {
        RoutedWrite(with_current(|captures| {
            captures.iter().map(|(_, buffer)| buffer.clone()).collect()
        }))
    }
}

/// Installs the process-global subscriber once. Panics when another global
/// subscriber was installed first: a test process must not install one of
/// its own (use [`set_default`]).
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let captured = tracing_subscriber::fmt::layer()
            .with_writer(RoutedWriter)
            .with_ansi(false)
            // Timestamps are digits that a checked value could collide with.
            .without_time()
            // Decided per event, so no callsite is ever cached as unwanted.
            .with_filter(dynamic_filter_fn(|_, _| {
                with_current(|captures| !captures.is_empty())
            }));
        let subscriber = tracing_subscriber::registry().with(captured);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global tracing subscriber in a test process");
    });
}

impl CapturedLogs {
    /// Starts capturing the events of the current Tokio runtime: call it
    /// inside the test, before starting the services it checks.
    pub fn start() -> CapturedLogs {
        install();
        let runtime = Handle::try_current()
            .expect("CapturedLogs::start runs inside the test's Tokio runtime")
            .id();
        let buffer = Buffer::default();
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        routes()
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(runtime)
            .or_default()
            .push((token, buffer.clone()));
        ACTIVE.fetch_add(1, Ordering::AcqRel);
        CapturedLogs {
            buffer,
            runtime,
            token,
        }
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        let bytes = self
            .buffer
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Whether `value` was logged, ignoring case, as a whole token: not
    /// inside a longer run of letters and digits, so that a postal code is not
    /// found inside a random id or a trace's hex digits.
    pub fn mentions(&self, value: &str) -> bool {
        mentions(&self.text(), value)
    }
}

impl Drop for CapturedLogs {
    fn drop(&mut self) {
        let mut routes = routes()
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(captures) = routes.get_mut(&self.runtime) {
            captures.retain(|(token, _)| *token != self.token);
            if captures.is_empty() {
                // Runtime ids are reused once a runtime ends.
                routes.remove(&self.runtime);
            }
        }
        ACTIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Makes `subscriber` this thread's default until the guard drops, for a test
/// that needs a subscriber of its own (e.g. one recording OpenTelemetry
/// spans). Installs the global subscriber first, so that no callsite is cached
/// as unwanted while another test's thread reaches it (see the module
/// documentation). Only events of this thread reach `subscriber`: run the test
/// and its services on one thread (`#[tokio::test(flavor = "current_thread")]`).
pub fn set_default(subscriber: impl Into<Dispatch>) -> DefaultGuard {
    install();
    tracing::dispatcher::set_default(&subscriber.into())
}

fn mentions(text: &str, value: &str) -> bool {
    let text = text.to_lowercase();
    let value = value.to_lowercase();
    if value.is_empty() {
        return false;
    }
    let edge = |c: Option<char>| !c.is_some_and(char::is_alphanumeric);
    text.match_indices(&value).any(|(at, _)| {
        edge(text[..at].chars().next_back()) && edge(text[at + value.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn a_value_counts_only_as_a_whole_token() {
        let text = "order placed order_id=0190f5a2-1011-7abc-8d10117f postal=10117 name=\"Ada\"";
        assert!(mentions(text, "10117"));
        assert!(mentions(text, "ada"));
        assert!(!mentions("trace=8d10117f span=a10117", "10117"));
        assert!(!mentions("adapter ready", "Ada"));
        assert!(mentions("email: ada@example.com", "example.com"));
    }
}
