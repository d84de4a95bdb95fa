//! Starting the catalogue alone, on a free port, against a fresh database.
// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

use onestop_catalogue::{run, Config};
use onestop_proto::catalogue::v1::UpsertSectorsRequest;
use onestop_server::auth::{SystemKeys, CATALOGUE};
use onestop_server::config::ServerArgs;
use onestop_testkit::fixtures::sectors;
use onestop_testkit::RunningService;

pub type Client = onestop_server::client::CatalogueClient;

/// The catalogue on `database_url`, with the fixture sectors loaded.
pub async fn start(database_url: &str) -> (RunningService, Client) {
    let keys = SystemKeys::generate();
    let mut server = ServerArgs::for_database(database_url);
    keys.install(CATALOGUE, &mut server.auth);
    server.health_check_interval_ms = 100;
    let operator = keys.operator();
    let service = RunningService::spawn(|listener, shutdown| run(Config { server }, listener, shutdown)).await;
    let client = onestop_server::client::catalogue(&service.url(), None, &operator).expect("a valid URL");
    let mut client = client.max_decoding_message_size(64 * 1024 * 1024);
    client.upsert_sectors(UpsertSectorsRequest { sectors: sectors() }).await.expect("loading sectors");
    (service, client)
}

/// The field paths named by a status's `BadRequest` or `PreconditionFailure` details.
pub fn fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let mut out: Vec<String> =
        details.bad_request().map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect()).unwrap_or_default();
    if let Some(p) = details.precondition_failure() {
        out.extend(p.violations.iter().map(|v| v.subject.clone()));
    }
    out
}
