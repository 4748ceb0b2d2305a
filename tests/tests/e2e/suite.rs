//! The suite starts every service, and they reach each other.

use oms_e2e::Suite;

#[tokio::test]
async fn every_service_starts_serving_and_lists_its_contract_by_reflection() {
    let _one = crate::one_suite_at_a_time().await;
    let suite = Suite::start().await;
    assert!(suite.not_serving().await.is_empty());
    for (service, running) in suite.services() {
        let served = oms_e2e::fuzz::served_services(running.channel()).await;
        assert!(
            served
                .iter()
                .any(|name| name.starts_with(&format!("oms.{}.", service.name()))),
            "{} serves {served:?}",
            service.name()
        );
    }
    suite.stop().await;
}
