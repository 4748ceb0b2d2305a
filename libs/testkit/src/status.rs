//! Reading the error details of a refused call, as the contracts promise them.

use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// The ErrorInfo reason of a refusal; empty when it carries none.
pub fn reason(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// The ErrorInfo metadata value `key` of a refusal; empty when absent.
pub fn metadata(status: &Status, key: &str) -> String {
    status
        .get_error_details()
        .error_info()
        .and_then(|info| info.metadata.get(key).cloned())
        .unwrap_or_default()
}

/// The fields an INVALID_ARGUMENT names; panics on any other code.
pub fn bad_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
}
