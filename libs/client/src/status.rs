//! A refused call as sentences: the code, the message, and the
//! `google.rpc` details the OMS attaches (field violations, the reason with
//! its values, the missing resource, the failed preconditions), never the
//! raw bytes of `grpc-status-details-bin`.

use oms_platform::error::code_name;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// `status` as one or more sentences, e.g. "FAILED_PRECONDITION: insufficient
/// stock for sku TEE-M. Reason INSUFFICIENT_STOCK: available 0, location_id
/// wh-berlin, requested 2, sku TEE-M."
pub fn describe(status: &Status) -> String {
    let mut text = format!("{}: {}", code_name(status.code()), headline(status));
    let details = status.get_error_details();
    if let Some(bad) = details.bad_request() {
        let fields: Vec<String> = bad
            .field_violations
            .iter()
            // A violation the message already names is not said twice.
            .filter(|violation| {
                !(status.message().contains(&violation.field)
                    && status.message().contains(&violation.description))
            })
            .map(|violation| {
                if violation.field.is_empty() {
                    violation.description.clone()
                } else {
                    format!("{} {}", violation.field, violation.description)
                }
            })
            .collect();
        if !fields.is_empty() {
            text.push_str(&format!(". Invalid: {}", fields.join("; ")));
        }
    }
    if let Some(info) = details.error_info() {
        text.push_str(&format!(". Reason {}", info.reason));
        if !info.metadata.is_empty() {
            let mut values: Vec<String> = info
                .metadata
                .iter()
                .map(|(key, value)| format!("{key} {value}"))
                .collect();
            values.sort();
            text.push_str(&format!(": {}", values.join(", ")));
        }
    }
    if let Some(failure) = details.precondition_failure() {
        let violations: Vec<String> = failure
            .violations
            .iter()
            .map(|violation| {
                format!(
                    "{} {}: {}",
                    violation.r#type, violation.subject, violation.description
                )
            })
            .collect();
        if !violations.is_empty() {
            text.push_str(&format!(". Failed: {}", violations.join("; ")));
        }
    }
    if let Some(resource) = details.resource_info()
        && !status.message().contains(&resource.resource_name)
    {
        text.push_str(&format!(
            ". Not found: {} {}",
            resource.resource_type, resource.resource_name
        ));
    }
    if let Some(retry) = details.retry_info()
        && let Some(delay) = retry.retry_delay
    {
        text.push_str(&format!(
            ". Retry after {}",
            humantime::format_duration(delay)
        ));
    }
    text.push('.');
    text
}

/// The status message, or what the code means when the server sent none (a
/// connection that failed has a transport error as its message).
fn headline(status: &Status) -> String {
    let message = status.message().trim();
    match status.code() {
        // The channel's own errors: no server answered at all.
        Code::Unavailable
            if message.is_empty()
                || ["transport", "connect", "connection", "dns"]
                    .iter()
                    .any(|word| message.contains(word)) =>
        {
            format!(
                "the service cannot be reached (not running, or the address is wrong): {}",
                if message.is_empty() {
                    "no answer"
                } else {
                    message
                }
            )
        }
        _ if message.is_empty() => "no message".to_owned(),
        _ => message.trim_end_matches('.').to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use oms_platform::error::{self, FieldViolations};
    use oms_proto::common::v1::ErrorReason;

    use super::*;

    #[test]
    fn field_violations_are_named_one_by_one() {
        let mut violations = FieldViolations::new();
        violations.add("lines[0].quantity", "must be at least 1");
        violations.add("customer.email", "is malformed");
        let text = describe(&violations.into_status());
        assert_eq!(
            text,
            "INVALID_ARGUMENT: 2 invalid fields. Invalid: lines[0].quantity must be at least 1; \
             customer.email is malformed."
        );
    }

    #[test]
    fn a_single_violation_named_in_the_message_is_not_repeated() {
        let status = error::invalid_argument("customer.email", "must be an email address");
        assert_eq!(
            describe(&status),
            "INVALID_ARGUMENT: invalid customer.email: must be an email address."
        );
    }

    #[test]
    fn a_business_refusal_names_its_reason_and_values() {
        let status = error::failed_precondition(
            ErrorReason::InsufficientStock,
            "insufficient stock for sku TEE-M",
            [("sku", "TEE-M"), ("available", "0")],
        );
        assert_eq!(
            describe(&status),
            "FAILED_PRECONDITION: insufficient stock for sku TEE-M. Reason INSUFFICIENT_STOCK: \
             available 0, sku TEE-M."
        );
    }

    #[test]
    fn a_missing_thing_is_named_once() {
        let status = error::not_found("order", "ord-1");
        assert_eq!(describe(&status), "NOT_FOUND: order ord-1 not found.");
    }

    #[test]
    fn a_service_that_is_down_says_so() {
        let status = Status::unavailable("error trying to connect: transport error");
        assert!(describe(&status).contains("cannot be reached"));
    }
}
