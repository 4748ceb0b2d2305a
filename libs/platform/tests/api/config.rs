//! The platform's configuration as operators read it: each config lists, for
//! `--help`, exactly the variables it reads with the defaults it applies, and
//! the README documents every one of them.

use std::collections::BTreeSet;

use oms_platform::config::{
    ClientConfig, DatabaseConfig, RedisConfig, ServerConfig, Service, TelemetryConfig, Variable,
};
use oms_testkit::binary::{check_variables, readme_variables};

/// Every variable of the platform's configs, for `service`.
fn platform_variables(service: Service) -> Vec<Variable> {
    [
        ServerConfig::variables(service),
        ClientConfig::variables(),
        DatabaseConfig::variables(),
        RedisConfig::variables(service),
        TelemetryConfig::variables(service.binary_name()),
    ]
    .concat()
}

#[test]
fn each_config_lists_what_it_reads_with_the_default_it_applies() {
    for service in Service::ALL {
        check_variables(
            |env| ServerConfig::from_env(env, service),
            &ServerConfig::variables(service),
        );
        check_variables(
            |env| DatabaseConfig::from_env(env, service),
            &DatabaseConfig::variables(),
        );
        check_variables(
            |env| RedisConfig::from_env(env, service),
            &RedisConfig::variables(service),
        );
        check_variables(
            |env| TelemetryConfig::from_env(env, service.binary_name()),
            &TelemetryConfig::variables(service.binary_name()),
        );
    }
    check_variables(ClientConfig::from_env, &ClientConfig::variables());
}

#[test]
fn the_readme_documents_every_platform_variable_and_no_unknown_one() {
    let platform: BTreeSet<String> = Service::ALL
        .into_iter()
        .flat_map(platform_variables)
        .map(|variable| variable.name)
        .collect();
    // A service's own settings (`OMS_INVENTORY_EXPIRY_INTERVAL`) are checked
    // against its binary's --help in the service's tests.
    let services_own = |name: &str| {
        Service::ALL.into_iter().any(|service| {
            let prefix = format!("OMS_{}_", service.name().to_ascii_uppercase());
            name.starts_with(&prefix) && name != service.addr_var()
        })
    };
    let documented: BTreeSet<String> = readme_variables()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !services_own(name))
        .collect();
    assert_eq!(documented, platform);
}
