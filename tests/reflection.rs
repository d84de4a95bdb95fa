//! Any gRPC client can discover the services: reflection answers in both its versions, v1 and the v1alpha that
//! many tools still speak (grpcurl releases, Postman, grpcio's reflection client).

use onestop_system_tests::*;
use tonic_reflection::pb::{v1, v1alpha};

/// The services one server lists through reflection v1.
async fn listed_v1(url: String) -> Vec<String> {
    use v1::server_reflection_client::ServerReflectionClient;
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    let channel = tonic::transport::Endpoint::from_shared(url).unwrap().connect().await.unwrap();
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    match answers.message().await.unwrap().and_then(|a| a.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("not a list of services: {other:?}"),
    }
}

/// The services one server lists through reflection v1alpha.
async fn listed_v1alpha(url: String) -> Vec<String> {
    use v1alpha::server_reflection_client::ServerReflectionClient;
    use v1alpha::server_reflection_request::MessageRequest;
    use v1alpha::server_reflection_response::MessageResponse;
    let channel = tonic::transport::Endpoint::from_shared(url).unwrap().connect().await.unwrap();
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    match answers.message().await.unwrap().and_then(|a| a.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("not a list of services: {other:?}"),
    }
}

#[tokio::test]
async fn every_service_answers_reflection_v1_and_v1alpha() {
    let Some(system) = TestSystem::start().await else { return };
    let stack = &system.stack;
    for (url, name) in [
        (stack.catalogue_url(), "onestop.catalogue.v1.CatalogueService"),
        (stack.intake_url(), "onestop.intake.v1.IntakeService"),
        (stack.aggregation_url(), "onestop.aggregation.v1.AggregationService"),
    ] {
        for listed in [listed_v1(url.clone()).await, listed_v1alpha(url.clone()).await] {
            assert!(listed.iter().any(|s| s == name), "{name} not in {listed:?}");
            assert!(listed.iter().any(|s| s == "grpc.health.v1.Health"), "{listed:?}");
        }
    }
}
