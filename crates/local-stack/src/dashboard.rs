//! The dashboard beside a running stack: started on its own port, reading aggregation like any client, with the
//! stack's issuer key trusted for sign-in; and sign-in links for the offices that use it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use onestop_auth::{claims, Role, SCOPE_READ};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Stack;

/// Where the run command serves the dashboard unless told otherwise.
pub const DEFAULT_ADDR: SocketAddr = onestop_dashboard::DEFAULT_LISTEN_ADDR;

/// A running dashboard. [`Dashboard::shutdown`] stops it.
pub struct Dashboard {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Dashboard {
    /// Starts the dashboard of `stack` at `addr`; `tls_ca` is needed when the stack speaks only TLS.
    pub async fn start(stack: &Stack, addr: SocketAddr, tls_ca: Option<PathBuf>) -> anyhow::Result<Dashboard> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("dashboard: binding {addr}"))?;
        let addr = listener.local_addr()?;
        let mut config = onestop_dashboard::Config::new(stack.aggregation_url(), stack.keys().issuer.public_text());
        config.tls_ca = tls_ca;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(onestop_dashboard::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Ok(Dashboard { addr, stop, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The link that signs in with `token`.
    pub fn sign_in_link(&self, token: &str) -> String {
        format!("http://{}/sign-in?token={token}", self.addr)
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("the dashboard panicked")?
    }
}

/// A token for the provincial office of `province`: it reads its province, for `hours`.
pub fn office_token(stack: &Stack, province: &str, hours: i64) -> String {
    let mut office = claims(&format!("office-{province}"), Role::Province, &[SCOPE_READ], hours * 3600);
    office.province = Some(province.to_owned());
    stack.keys().issuer.issue(&office)
}
