//! The RPC contracts as the servers serve them by reflection: every unary RPC
//! of every service in the `oms.` packages, read from
//! [`oms_proto::FILE_DESCRIPTOR_SET`], with what its leading comment promises.
//!
//! A contract's comment lists the status codes an RPC may answer in an
//! `Errors:` paragraph (`Errors (of the whole call; ...):` also counts), one
//! `- CODE: ...` item per code, items running on over indented lines; OK is
//! always allowed. An RPC whose comment has no such paragraph is undocumented
//! ([`Contract::codes`] is `None`). An RPC is mutating when its comment has an
//! `Idempotency:` paragraph: every mutating RPC says how a retry is made safe.

use prost_reflect::{DescriptorPool, MessageDescriptor, MethodDescriptor};
use tonic::Code;

/// One RPC and what its contract says.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The service's full name, e.g. `oms.order.v1.OrderService`.
    pub service: String,
    /// The method's name, e.g. `PlaceOrder`.
    pub method: String,
    /// The request message.
    pub input: MessageDescriptor,
    /// The codes the comment's `Errors:` paragraph lists; `None` when there is
    /// none.
    pub codes: Option<Vec<Code>>,
    /// Whether the comment has an `Idempotency:` paragraph.
    pub mutating: bool,
}

impl Contract {
    /// `<package>.<Service>/<Method>`, e.g. `oms.order.v1.OrderService/PlaceOrder`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }

    /// The HTTP/2 path a call goes to: `/<package>.<Service>/<Method>`.
    pub fn path(&self) -> String {
        format!("/{}", self.name())
    }

    /// Whether the contract allows an answer with `code`: OK always; the codes
    /// its `Errors:` paragraph lists; nothing else (INTERNAL included, which
    /// only tonic's own refusal of an undecodable body may send: the caller
    /// checks that case).
    pub fn allows(&self, code: Code) -> bool {
        code == Code::Ok
            || self
                .codes
                .as_ref()
                .is_some_and(|codes| codes.contains(&code))
    }
}

/// The descriptor set every server serves by reflection.
pub fn descriptor_pool() -> DescriptorPool {
    DescriptorPool::decode(oms_proto::FILE_DESCRIPTOR_SET)
        .expect("oms-proto embeds a valid descriptor set")
}

/// Every RPC of every service in the `oms.` packages, streaming ones
/// included, sorted by name.
pub fn all() -> Vec<(Contract, bool)> {
    let pool = descriptor_pool();
    let mut contracts: Vec<(Contract, bool)> = pool
        .services()
        .filter(|service| service.full_name().starts_with("oms."))
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .map(|method| {
            let streaming = method.is_client_streaming() || method.is_server_streaming();
            (contract(&method), streaming)
        })
        .collect();
    contracts.sort_by_key(|(contract, _)| contract.name());
    contracts
}

/// Every unary RPC of every service in the `oms.` packages, sorted by name.
pub fn unary() -> Vec<Contract> {
    all()
        .into_iter()
        .filter(|(_, streaming)| !streaming)
        .map(|(contract, _)| contract)
        .collect()
}

fn contract(method: &MethodDescriptor) -> Contract {
    let comment = leading_comment(method);
    Contract {
        service: method.parent_service().full_name().to_owned(),
        method: method.name().to_owned(),
        input: method.input(),
        codes: error_codes(&comment),
        mutating: comment
            .lines()
            .any(|line| line.trim_start().starts_with("Idempotency:")),
    }
}

/// The comment above the method in its file, from the source code info.
fn leading_comment(method: &MethodDescriptor) -> String {
    let file = method.parent_file();
    let Some(info) = &file.file_descriptor_proto().source_code_info else {
        return String::new();
    };
    info.location
        .iter()
        .find(|location| location.path == method.path())
        .and_then(|location| location.leading_comments.clone())
        .unwrap_or_default()
}

/// The codes of the comment's `Errors:` paragraph, `None` when it has none.
pub fn error_codes(comment: &str) -> Option<Vec<Code>> {
    let mut lines = comment.lines().map(str::trim);
    lines.find(|line| is_errors_heading(line))?;
    let mut codes = Vec::new();
    for line in lines.take_while(|line| !line.is_empty()) {
        let Some(item) = line.strip_prefix("- ") else {
            continue;
        };
        if let Some(code) = item.split_once(':').and_then(|(name, _)| code(name)) {
            codes.push(code);
        }
    }
    Some(codes)
}

fn is_errors_heading(line: &str) -> bool {
    line == "Errors:" || (line.starts_with("Errors (") && line.ends_with("):"))
}

/// The code a canonical name (`NOT_FOUND`) stands for.
pub fn code(name: &str) -> Option<Code> {
    Some(match name {
        "OK" => Code::Ok,
        "CANCELLED" => Code::Cancelled,
        "UNKNOWN" => Code::Unknown,
        "INVALID_ARGUMENT" => Code::InvalidArgument,
        "DEADLINE_EXCEEDED" => Code::DeadlineExceeded,
        "NOT_FOUND" => Code::NotFound,
        "ALREADY_EXISTS" => Code::AlreadyExists,
        "PERMISSION_DENIED" => Code::PermissionDenied,
        "RESOURCE_EXHAUSTED" => Code::ResourceExhausted,
        "FAILED_PRECONDITION" => Code::FailedPrecondition,
        "ABORTED" => Code::Aborted,
        "OUT_OF_RANGE" => Code::OutOfRange,
        "UNIMPLEMENTED" => Code::Unimplemented,
        "INTERNAL" => Code::Internal,
        "UNAVAILABLE" => Code::Unavailable,
        "DATA_LOSS" => Code::DataLoss,
        "UNAUTHENTICATED" => Code::Unauthenticated,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_errors_paragraph_lists_codes_and_ends_at_a_blank_line() {
        let comment = "Does things.\n\
            - NOT_FOUND: not in errors yet\n\
            Idempotency: natural.\n\
            Errors:\n\
            - INVALID_ARGUMENT: empty id;\n  \
              an item runs on\n\
            - UNAVAILABLE: down\n\
            - FAILED_PRECONDITION: ILLEGAL_STATE_TRANSITION.\n\
            \n\
            - ALREADY_EXISTS: after the paragraph\n";
        assert_eq!(
            error_codes(comment),
            Some(vec![
                Code::InvalidArgument,
                Code::Unavailable,
                Code::FailedPrecondition
            ])
        );
        assert_eq!(
            error_codes("Errors (of the whole call):\n- UNAVAILABLE: down\n"),
            Some(vec![Code::Unavailable])
        );
        assert_eq!(error_codes("No codes here.\n- NOT_FOUND: x\n"), None);
    }

    #[test]
    fn every_rpc_comment_is_read_from_the_descriptor_set() {
        let contracts = unary();
        let place = contracts
            .iter()
            .find(|contract| contract.name() == "oms.order.v1.OrderService/PlaceOrder")
            .expect("PlaceOrder is a unary RPC");
        assert!(place.mutating);
        assert!(place.allows(Code::AlreadyExists));
        assert!(!place.allows(Code::NotFound));
        assert!(!place.allows(Code::Internal));
        let get = contracts
            .iter()
            .find(|contract| contract.name() == "oms.order.v1.OrderService/GetOrder")
            .expect("GetOrder is a unary RPC");
        assert!(!get.mutating);
        assert_eq!(get.path(), "/oms.order.v1.OrderService/GetOrder");
    }
}
