//! Everything a service logs during a test, to check what must never appear
//! in logs (personal data, card numbers).

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use tracing::subscriber::DefaultGuard;

/// Captures every event of this thread, at every level, until dropped. The
/// service under test must run on the same thread: use it from a
/// `#[tokio::test(flavor = "current_thread")]`.
pub struct CapturedLogs {
    buffer: Buffer,
    _guard: DefaultGuard,
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Starts capturing.
    pub fn start() -> CapturedLogs {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            // Timestamps are digits that a checked value could collide with.
            .without_time()
            .finish();
        CapturedLogs {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.0.lock().expect("log buffer")).into_owned()
    }

    /// Whether `value` was logged, ignoring case, as a whole token: not
    /// inside a longer run of letters and digits, so that a postal code is not
    /// found inside a random id or a trace's hex digits.
    pub fn mentions(&self, value: &str) -> bool {
        mentions(&self.text(), value)
    }
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
