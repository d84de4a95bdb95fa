//! A TCP relay a test can cut and restore, to make a server unreachable without stopping it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Relays connections from its own loopback port to `target` while up; when cut, drops every relayed
/// connection and refuses new ones.
pub struct CuttableLink {
    addr: SocketAddr,
    state: Arc<State>,
    accept_loop: AbortHandle,
}

#[derive(Default)]
struct State {
    cut: AtomicBool,
    connections: Mutex<Vec<AbortHandle>>,
}

impl CuttableLink {
    pub async fn to(target: SocketAddr) -> std::io::Result<CuttableLink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let relay_state = state.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if relay_state.cut.load(Ordering::SeqCst) {
                    continue; // dropping `inbound` refuses the connection
                }
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                relay_state.connections.lock().expect("link state").push(relay.abort_handle());
            }
        })
        .abort_handle();
        Ok(CuttableLink { addr, state, accept_loop })
    }

    /// The address to connect to instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for connection in self.state.connections.lock().expect("link state").drain(..) {
            connection.abort();
        }
    }

    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for CuttableLink {
    fn drop(&mut self) {
        self.cut();
        self.accept_loop.abort();
    }
}
