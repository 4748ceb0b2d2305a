//! Unary gRPC calls with the request and response as raw protobuf bytes, as a
//! client without our generated code sends them: any bytes, truncated or
//! random ones included, to any path.

use bytes::{Buf as _, BufMut as _, Bytes};
use tonic::{
    Request, Status,
    body::Body,
    client::GrpcService,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::StdError,
    metadata::MetadataValue,
};

/// Passes message bytes through unchanged, both ways.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Sends `body` to `path` (`/<package>.<Service>/<Method>`) on `channel` (an
/// `OmsChannel`, or a `TestChannel` with its headers), with the
/// `idempotency-key` metadata when `idempotency_key` is given, and returns
/// the response's bytes or its status.
pub async fn unary<T>(
    channel: T,
    path: &str,
    body: Bytes,
    idempotency_key: Option<&str>,
) -> Result<Bytes, Status>
where
    T: GrpcService<Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<StdError> + Send,
{
    let path = path
        .parse()
        .map_err(|_| Status::invalid_argument(format!("not a gRPC path: {path}")))?;
    let mut request = Request::new(body);
    if let Some(key) = idempotency_key {
        let key = MetadataValue::try_from(key)
            .map_err(|_| Status::invalid_argument("idempotency key not ASCII"))?;
        request.metadata_mut().insert("idempotency-key", key);
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|err| Status::unavailable(format!("channel not ready: {}", err.into())))?;
    grpc.unary(request, path, BytesCodec)
        .await
        .map(tonic::Response::into_inner)
}
