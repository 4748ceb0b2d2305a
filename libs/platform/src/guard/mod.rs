//! The request guard: one check of every string field of every request of
//! every OMS RPC, before any handler sees it. A string holding a NUL character
//! (which Postgres refuses to store) or a raw card number
//! ([`crate::card::contains_card_number`], which no service may keep) is
//! refused with INVALID_ARGUMENT and `google.rpc.BadRequest` field violations
//! naming each such field by path (`customer.name`, `lines[1].sku`,
//! `shipping_address.lines[0]`, `metadata[key]`), all at once.
//!
//! - [`RequestGuard`] knows, from the contracts' message descriptors, which
//!   fields of which request are strings at any depth (nested messages,
//!   repeated fields, map keys and values, oneofs), and checks an encoded
//!   message by walking its wire format.
//! - [`GuardLayer`] is the tower layer [`crate::server::GrpcServer`] puts in
//!   front of every service, so an RPC added to a contract is covered the day
//!   it is served. It wraps the request body of each RPC of an `oms.` package:
//!   each gRPC message passes on only once checked, and a refused message ends
//!   the body with the INVALID_ARGUMENT status. Tonic decodes a unary (or
//!   server-streaming) request before it calls the handler, so the caller gets
//!   that status and the handler never runs; in a client stream the handler's
//!   stream yields the status at the refused message. Health and reflection
//!   requests, and RPCs whose request holds no string, pass untouched.
//!
//! A request the guard refuses is not checked further: the handler's own
//! violations (a missing field, a bad quantity) come once its strings are clean.
//!
//! What the guard leaves to tonic, which refuses all of it itself: a body that
//! is not protobuf (INTERNAL, tonic's rule for an undecodable body), a message
//! over tonic's 4 MiB limit, and compressed messages (no OMS server accepts
//! compression; one that did would have to decompress before the check).

mod rules;

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

pub use self::rules::{GuardError, RequestGuard};

/// The length of a gRPC message's prefix: a compression flag and a 4-byte
/// length.
const PREFIX: usize = 5;
/// Tonic's default limit on a received message; longer ones it refuses.
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// Puts [`RequestGuard`] in front of a service.
#[derive(Clone, Copy, Debug)]
pub struct GuardLayer {
    guard: &'static RequestGuard,
}

impl GuardLayer {
    /// The layer checking requests with `guard`.
    pub fn new(guard: &'static RequestGuard) -> GuardLayer {
        GuardLayer { guard }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            guard: self.guard,
        }
    }
}

/// The service [`GuardLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct Guarded<S> {
    inner: S,
    guard: &'static RequestGuard,
}

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(message) = self.guard.request(request.uri().path()) else {
            return self.inner.call(request);
        };
        let guard = self.guard;
        let request = request.map(|body| {
            Body::new(CheckedBody {
                inner: body,
                guard,
                message,
                pending: BytesMut::new(),
                refusal: None,
                state: State::Checking,
            })
        });
        self.inner.call(request)
    }
}

/// A request body whose gRPC messages pass on once checked.
struct CheckedBody {
    inner: Body,
    guard: &'static RequestGuard,
    /// The request message type.
    message: usize,
    /// The start of a message whose end has not arrived yet.
    pending: BytesMut,
    /// The status of a refused message, given once the clean messages before it
    /// have passed.
    refusal: Option<Status>,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Checking,
    /// Tonic refuses what follows (too long, compressed); it passes as it is.
    PassingOn,
    /// A message was refused: the body ended with its status.
    Refused,
}

impl CheckedBody {
    /// Checks the complete messages of `chunk` (after what is pending) and
    /// gives back those that pass, keeping an incomplete last one; `None` when
    /// nothing is complete yet. A refused message and all after it are dropped,
    /// and its status kept for the next poll.
    fn check(&mut self, chunk: Bytes) -> Option<Bytes> {
        let mut data = if self.pending.is_empty() {
            chunk
        } else {
            self.pending.extend_from_slice(&chunk);
            self.pending.split().freeze()
        };
        let mut complete = 0;
        while let Some(prefix) = data.get(complete..complete + PREFIX) {
            let compressed = prefix[0] != 0;
            let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if compressed || len > MAX_MESSAGE {
                self.state = State::PassingOn;
                complete = data.len();
                break;
            }
            let start = complete + PREFIX;
            let Some(message) = data.get(start..start + len) else {
                break;
            };
            if let Err(violations) = self.guard.check_index(self.message, message) {
                self.refusal = Some(violations.into_status());
                data.truncate(complete);
                return (!data.is_empty()).then_some(data);
            }
            complete = start + len;
        }
        if complete < data.len() {
            self.pending.extend_from_slice(&data[complete..]);
            data.truncate(complete);
        }
        (!data.is_empty()).then_some(data)
    }
}

impl http_body::Body for CheckedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        loop {
            if let Some(status) = this.refusal.take() {
                this.state = State::Refused;
                return Poll::Ready(Some(Err(status)));
            }
            if this.state == State::Refused {
                return Poll::Ready(None);
            }
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                // A message cut short: tonic says so.
                None if !this.pending.is_empty() => {
                    let rest = this.pending.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
                None => return Poll::Ready(None),
            };
            if this.state == State::PassingOn {
                return Poll::Ready(Some(Ok(frame)));
            }
            let chunk = match frame.into_data() {
                Ok(chunk) => chunk,
                Err(frame) => return Poll::Ready(Some(Ok(frame))),
            };
            if let Some(checked) = this.check(chunk) {
                return Poll::Ready(Some(Ok(Frame::data(checked))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Refused
            || (self.refusal.is_none() && self.inner.is_end_stream() && self.pending.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use oms_proto::outbox::v1::ListOutboxMessagesRequest;
    use prost::Message as _;

    use super::*;

    const LIST: &str = "/oms.outbox.v1.OutboxService/ListOutboxMessages";

    /// A body that hands out the chunks it was given, one per frame.
    struct Chunks(VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
        }
    }

    /// gRPC's length-prefixed framing of one message.
    fn framed(topic: &str) -> Vec<u8> {
        let message = ListOutboxMessagesRequest {
            topic: topic.into(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut framed = vec![0];
        framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        framed.extend_from_slice(&message);
        framed
    }

    /// Reads the guarded body of `chunks` to its end: the bytes passed on, and
    /// the status that ended it, if any.
    async fn read(chunks: Vec<Vec<u8>>) -> (Vec<u8>, Option<Status>) {
        let guard = RequestGuard::contracts().unwrap();
        let inner = Body::new(Chunks(chunks.into_iter().map(Bytes::from).collect()));
        let mut body = CheckedBody {
            inner,
            guard,
            message: guard.request(LIST).unwrap(),
            pending: BytesMut::new(),
            refusal: None,
            state: State::Checking,
        };
        let mut passed = Vec::new();
        loop {
            let frame =
                std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut body), cx))
                    .await;
            match frame {
                None => return (passed, None),
                Some(Ok(frame)) => passed.extend_from_slice(&frame.into_data().unwrap()),
                Some(Err(status)) => return (passed, Some(status)),
            }
        }
    }

    #[tokio::test]
    async fn messages_pass_whole_however_the_body_is_cut() {
        let stream = [framed("orders"), framed("returns")].concat();
        for cut in 0..stream.len() {
            let chunks = vec![stream[..cut].to_vec(), stream[cut..].to_vec()];
            let (passed, status) = read(chunks).await;
            assert_eq!(passed, stream, "cut at {cut}");
            assert!(status.is_none());
        }
    }

    #[tokio::test]
    async fn a_refused_message_ends_the_body_after_the_clean_ones() {
        let clean = framed("orders");
        let stream = [clean.clone(), framed("ret\0urns"), framed("later")].concat();
        for cut in [1, clean.len(), clean.len() + 7, stream.len()] {
            let chunks = vec![stream[..cut].to_vec(), stream[cut..].to_vec()];
            let (passed, status) = read(chunks).await;
            assert_eq!(passed, clean, "cut at {cut}");
            let status = status.unwrap();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert_eq!(
                status.message(),
                "invalid topic: must not contain NUL characters"
            );
        }
    }

    #[tokio::test]
    async fn what_tonic_refuses_passes_as_it_is() {
        // Compressed, too long, and cut short.
        let mut compressed = framed("ret\0urns");
        compressed[0] = 1;
        let mut too_long = vec![0];
        too_long.extend_from_slice(&u32::try_from(MAX_MESSAGE + 1).unwrap().to_be_bytes());
        too_long.extend_from_slice(&framed("\0"));
        let cut_short = framed("orders")[..6].to_vec();
        for stream in [compressed, too_long, cut_short] {
            let (passed, status) = read(vec![stream.clone()]).await;
            assert_eq!(passed, stream);
            assert!(status.is_none());
        }
    }
}
