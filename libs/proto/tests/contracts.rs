//! The conventions every contract keeps (see `proto/oms/common/v1/common.proto`),
//! checked on the compiled descriptors so a new RPC or field cannot skip them.

#![allow(clippy::unwrap_used, reason = "tests")]

use prost::Message as _;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    source_code_info::Location,
};

// Field numbers in descriptor.proto, for source code info paths.
const FILE_MESSAGE: i32 = 4;
const FILE_ENUM: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED: i32 = 3;
const MESSAGE_ENUM: i32 = 4;
const MESSAGE_ONEOF: i32 = 8;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

fn oms_files() -> Vec<FileDescriptorProto> {
    let set = FileDescriptorSet::decode(oms_proto::FILE_DESCRIPTOR_SET).unwrap();
    let files: Vec<_> = set
        .file
        .into_iter()
        .filter(|file| file.package().starts_with("oms."))
        .collect();
    assert!(!files.is_empty());
    files
}

/// Every element of a file, with its path in source code info and its name.
fn elements(file: &FileDescriptorProto) -> Vec<(Vec<i32>, String)> {
    let mut elements = Vec::new();
    for (i, message) in file.message_type.iter().enumerate() {
        message_elements(
            message,
            vec![FILE_MESSAGE, i as i32],
            message.name(),
            &mut elements,
        );
    }
    for (i, enumeration) in file.enum_type.iter().enumerate() {
        enum_elements(
            enumeration,
            vec![FILE_ENUM, i as i32],
            enumeration.name(),
            &mut elements,
        );
    }
    for (i, service) in file.service.iter().enumerate() {
        let path = vec![FILE_SERVICE, i as i32];
        elements.push((path.clone(), service.name().to_owned()));
        for (j, method) in service.method.iter().enumerate() {
            let mut path = path.clone();
            path.extend([SERVICE_METHOD, j as i32]);
            elements.push((path, format!("{}.{}", service.name(), method.name())));
        }
    }
    elements
}

fn message_elements(
    message: &DescriptorProto,
    path: Vec<i32>,
    name: &str,
    elements: &mut Vec<(Vec<i32>, String)>,
) {
    elements.push((path.clone(), name.to_owned()));
    for (i, field) in message.field.iter().enumerate() {
        let mut field_path = path.clone();
        field_path.extend([MESSAGE_FIELD, i as i32]);
        elements.push((field_path, format!("{name}.{}", field.name())));
    }
    for (i, oneof) in message.oneof_decl.iter().enumerate() {
        // proto3 `optional` fields make synthetic oneofs named `_<field>`.
        if oneof.name().starts_with('_') {
            continue;
        }
        let mut oneof_path = path.clone();
        oneof_path.extend([MESSAGE_ONEOF, i as i32]);
        elements.push((oneof_path, format!("{name}.{}", oneof.name())));
    }
    for (i, nested) in message.nested_type.iter().enumerate() {
        if nested
            .options
            .as_ref()
            .is_some_and(|options| options.map_entry())
        {
            continue;
        }
        let mut nested_path = path.clone();
        nested_path.extend([MESSAGE_NESTED, i as i32]);
        message_elements(
            nested,
            nested_path,
            &format!("{name}.{}", nested.name()),
            elements,
        );
    }
    for (i, enumeration) in message.enum_type.iter().enumerate() {
        let mut enum_path = path.clone();
        enum_path.extend([MESSAGE_ENUM, i as i32]);
        enum_elements(
            enumeration,
            enum_path,
            &format!("{name}.{}", enumeration.name()),
            elements,
        );
    }
}

fn enum_elements(
    enumeration: &EnumDescriptorProto,
    path: Vec<i32>,
    name: &str,
    elements: &mut Vec<(Vec<i32>, String)>,
) {
    elements.push((path.clone(), name.to_owned()));
    for (i, value) in enumeration.value.iter().enumerate() {
        let mut value_path = path.clone();
        value_path.extend([ENUM_VALUE, i as i32]);
        elements.push((value_path, format!("{name}.{}", value.name())));
    }
}

fn comment<'a>(file: &'a FileDescriptorProto, path: &[i32]) -> Option<&'a Location> {
    file.source_code_info
        .as_ref()?
        .location
        .iter()
        .find(|location| location.path == path)
}

fn has_comment(location: Option<&Location>) -> bool {
    location.is_some_and(|location| {
        !location.leading_comments().trim().is_empty()
            || !location.trailing_comments().trim().is_empty()
    })
}

#[test]
fn every_package_is_versioned_and_lives_at_its_path() {
    for file in oms_files() {
        let parts: Vec<_> = file.package().split('.').collect();
        let ["oms", area, "v1"] = parts.as_slice() else {
            panic!(
                "{}: package {} is not oms.<area>.v1",
                file.name(),
                file.package()
            );
        };
        assert_eq!(file.name(), format!("oms/{area}/v1/{area}.proto"));
    }
}

#[test]
fn every_service_rpc_message_field_and_enum_value_is_commented() {
    let mut missing = Vec::new();
    for file in oms_files() {
        for (path, name) in elements(&file) {
            if !has_comment(comment(&file, &path)) {
                missing.push(format!("{}: {name}", file.package()));
            }
        }
    }
    assert!(missing.is_empty(), "uncommented:\n{}", missing.join("\n"));
}

#[test]
fn every_rpc_is_verb_noun_with_its_own_request_and_response_and_lists_its_errors() {
    let mut wrong = Vec::new();
    for file in oms_files() {
        let package = file.package();
        for (i, service) in file.service.iter().enumerate() {
            let area = package.split('.').nth(1).unwrap();
            let expected_service = format!("{}{}Service", area[..1].to_uppercase(), &area[1..]);
            if service.name() != expected_service {
                wrong.push(format!(
                    "{package}: service {} is not {expected_service}",
                    service.name()
                ));
            }
            for (j, method) in service.method.iter().enumerate() {
                let name = method.name();
                if method.input_type() != format!(".{package}.{name}Request") {
                    wrong.push(format!("{name} takes {}", method.input_type()));
                }
                if method.output_type() != format!(".{package}.{name}Response") {
                    wrong.push(format!("{name} returns {}", method.output_type()));
                }
                let path = [FILE_SERVICE, i as i32, SERVICE_METHOD, j as i32];
                let text = comment(&file, &path).map(|location| location.leading_comments());
                if !text.is_some_and(|text| text.contains("Errors")) {
                    wrong.push(format!("{name}: comment lists no errors"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn upper_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn every_enum_starts_unspecified_and_prefixes_its_values() {
    let mut wrong = Vec::new();
    let mut check = |enumeration: &EnumDescriptorProto| {
        let prefix = upper_snake(enumeration.name());
        let first = enumeration.value.first().unwrap();
        if first.number() != 0 || first.name() != format!("{prefix}_UNSPECIFIED") {
            wrong.push(format!(
                "{}: zero value is {}",
                enumeration.name(),
                first.name()
            ));
        }
        // ErrorReason values travel as google.rpc.ErrorInfo.reason strings, which
        // are conventionally bare UPPER_SNAKE names.
        if enumeration.name() == "ErrorReason" {
            return;
        }
        for value in &enumeration.value {
            if !value.name().starts_with(&format!("{prefix}_")) {
                wrong.push(format!(
                    "{}: {} lacks the prefix {prefix}_",
                    enumeration.name(),
                    value.name()
                ));
            }
        }
    };
    fn nested<'a>(message: &'a DescriptorProto, out: &mut Vec<&'a EnumDescriptorProto>) {
        out.extend(&message.enum_type);
        for inner in &message.nested_type {
            nested(inner, out);
        }
    }
    for file in oms_files() {
        let mut enums: Vec<&EnumDescriptorProto> = file.enum_type.iter().collect();
        for message in &file.message_type {
            nested(message, &mut enums);
        }
        for enumeration in enums {
            check(enumeration);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_service_of_the_suite_has_a_contract() {
    let services: Vec<String> = oms_files()
        .iter()
        .flat_map(|file| {
            file.service
                .iter()
                .map(|service| format!("{}.{}", file.package(), service.name()))
        })
        .collect();
    for expected in [
        "oms.order.v1.OrderService",
        "oms.inventory.v1.InventoryService",
        "oms.routing.v1.RoutingService",
        "oms.payment.v1.PaymentService",
        "oms.shipping.v1.ShippingService",
        "oms.returns.v1.ReturnsService",
        "oms.saga.v1.SagaService",
    ] {
        assert!(
            services.iter().any(|service| service == expected),
            "{expected} missing"
        );
    }
}
