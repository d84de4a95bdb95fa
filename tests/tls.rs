//! TLS and mutual TLS: a catalogue that requires client certificates, reached by clients with and without one,
//! intake calling that catalogue over mutual TLS to check a push, and the whole stack (as the run command starts
//! it) given the same settings.

use std::path::PathBuf;

use onestop_local::{Addresses, Stack};
use onestop_proto::catalogue::v1::*;
use onestop_proto::intake::v1::{DailyCell, Measures, PushCellsRequest};
use onestop_server::auth::{Credentials, SystemKeys, CATALOGUE, INTAKE};
use onestop_server::client;
use onestop_server::config::{ServerArgs, TlsArgs};
use onestop_system_tests::*;
use onestop_testkit::RunningService;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A certificate authority, a server certificate for `localhost`, and a client certificate, as PEM files.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        // One directory per authority: tests run side by side, and each removes its own when done.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("onestop-tls-{}-{made}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let write = |name: &str, pem: String| std::fs::write(dir.join(name), pem).unwrap();
        write("ca.pem", ca.pem());
        for (name, host) in [("server", "localhost"), ("client", "client.onestop")] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![host.to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Trusts the authority; with `certificate`, presents the client certificate.
    fn client(&self, certificate: bool) -> ClientTlsConfig {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.read("ca.pem")));
        if certificate {
            tls.identity(Identity::from_pem(self.read("client.pem"), self.read("client.key")))
        } else {
            tls
        }
    }

    /// Settings of `service`: TLS with the server certificate, client certificates required, the authority
    /// trusted for outgoing calls (which present the server certificate as the service's own).
    fn server(&self, database_url: &str, keys: &SystemKeys, service: &str) -> ServerArgs {
        let mut server = ServerArgs::for_database(database_url);
        keys.install(service, &mut server.auth);
        server.tls = self.tls();
        server
    }

    fn tls(&self) -> TlsArgs {
        TlsArgs {
            tls_cert: Some(self.path("server.pem")),
            tls_key: Some(self.path("server.key")),
            tls_client_ca: Some(self.path("ca.pem")),
            tls_ca: Some(self.path("ca.pem")),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn https(service: &RunningService) -> String {
    format!("https://localhost:{}", service.addr.port())
}

async fn sectors(url: &str, credentials: &Credentials) -> Result<(), tonic::Status> {
    let mut catalogue = client::catalogue(url, None, credentials).unwrap();
    catalogue.list_sectors(ListSectorsRequest {}).await.map(|_| ())
}

#[tokio::test]
async fn mutual_tls_on_servers_and_between_services() {
    let Some(database) = onestop_testkit::database().await else { return };
    let pki = Pki::new();
    let keys = SystemKeys::generate();
    let operator = keys.operator();
    let catalogue_args = onestop_catalogue::Config { server: pki.server(database.url(), &keys, CATALOGUE) };
    let catalogue =
        RunningService::spawn(|listener, shutdown| onestop_catalogue::run(catalogue_args, listener, shutdown)).await;
    let url = https(&catalogue);

    // With the client certificate: served. Without it, or without TLS: refused before any RPC.
    let with_certificate = operator.clone().with_tls(pki.client(true));
    assert!(sectors(&url, &with_certificate).await.is_ok());
    let refused = sectors(&url, &operator.clone().with_tls(pki.client(false))).await.unwrap_err();
    assert!(format!("{refused:?}").contains("CertificateRequired"), "{refused:?}");
    let plain = format!("http://127.0.0.1:{}", catalogue.addr.port());
    assert!(sectors(&plain, &operator).await.is_err(), "plain text is not spoken");

    // Intake over mutual TLS to the catalogue: a push is checked against the catalogue it reaches that way.
    let mut catalogue_client = client::catalogue(&url, None, &with_certificate).unwrap();
    catalogue_client.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    catalogue_client.upsert_sectors(UpsertSectorsRequest { sectors: sectors_fixture() }).await.unwrap();
    catalogue_client.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    catalogue_client.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    catalogue_client.set_center_procedures(center_procedures(COMMUNE_CENTER)).await.unwrap();
    let intake_args =
        onestop_intake::Config { server: pki.server(database.url(), &keys, INTAKE), catalogue_url: url.clone() };
    let intake = RunningService::spawn(|listener, shutdown| onestop_intake::run(intake_args, listener, shutdown)).await;
    let mut intake_client = client::intake(&https(&intake), None, &with_certificate).unwrap();
    let cell = DailyCell {
        center_code: COMMUNE_CENTER.into(),
        procedure_code: FULL_PROCEDURE.into(),
        day: "2026-03-02".into(),
        measures: Some(Measures { received_online: 3, ..Default::default() }),
        computed_at: None,
    };
    let pushed = intake_client
        .push_cells(PushCellsRequest {
            sender: "s".into(),
            cells: vec![cell],
            all_or_nothing: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pushed.accepted, 1);
    intake.stop().await.unwrap();
    catalogue.stop().await.unwrap();
}

/// The stack the run command starts, given certificates: every service speaks only mutual TLS, to the stack's
/// clients and to each other.
#[tokio::test]
async fn a_stack_given_certificates_speaks_mutual_tls_throughout() {
    let Some(database) = onestop_testkit::database().await else { return };
    let pki = Pki::new();
    let mut server = ServerArgs::for_database(database.url());
    server.tls = pki.tls();
    let stack = Stack::start_with(server, Addresses::any_free_port()).await.unwrap();
    assert!(stack.intake_url().starts_with("https://localhost:"), "{}", stack.intake_url());
    let mut catalogue = stack.catalogue_client();
    catalogue.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: sectors_fixture() }).await.unwrap();
    catalogue.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    catalogue.set_center_procedures(center_procedures(COMMUNE_CENTER)).await.unwrap();

    // Intake checks the push against the catalogue, which it reaches over mutual TLS.
    let cell = DailyCell {
        center_code: COMMUNE_CENTER.into(),
        procedure_code: FULL_PROCEDURE.into(),
        day: "2026-03-02".into(),
        measures: Some(Measures { received_online: 3, ..Default::default() }),
        computed_at: None,
    };
    let push = PushCellsRequest { sender: "s".into(), cells: vec![cell], all_or_nothing: true, ..Default::default() };
    let pushed = stack.intake_client().push_cells(push).await.unwrap().into_inner();
    assert_eq!(pushed.accepted, 1);
    let plain = format!("http://{}", stack.addresses.catalogue);
    assert!(sectors(&plain, &stack.keys().operator()).await.is_err(), "plain text is not spoken");
    stack.shutdown().await.unwrap();
}

fn sectors_fixture() -> Vec<Sector> {
    onestop_testkit::fixtures::sectors()
}
