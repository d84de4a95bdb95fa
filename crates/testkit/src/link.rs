//! A TCP relay a test can break in the ways networks break: cut it, drop what the server answers, or cut it
//! part-way through what the client is sending.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Relays connections from its own loopback port to `target`.
pub struct CuttableLink {
    addr: SocketAddr,
    state: Arc<State>,
    accept_loop: AbortHandle,
}

struct State {
    cut: AtomicBool,
    drop_responses: AtomicBool,
    /// Bytes still to forward from clients before cutting; negative for no limit.
    request_budget: AtomicI64,
    connections: Mutex<Vec<AbortHandle>>,
}

impl State {
    fn cut_all(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().expect("link state").drain(..) {
            connection.abort();
        }
    }

    /// How many of `n` bytes may pass.
    fn take_budget(&self, n: usize) -> usize {
        let mut current = self.request_budget.load(Ordering::SeqCst);
        loop {
            if current < 0 {
                return n;
            }
            let allowed = current.min(n as i64);
            match self.request_budget.compare_exchange(current, current - allowed, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return allowed as usize,
                Err(actual) => current = actual,
            }
        }
    }
}

impl CuttableLink {
    pub async fn to(target: SocketAddr) -> std::io::Result<CuttableLink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            cut: AtomicBool::new(false),
            drop_responses: AtomicBool::new(false),
            request_budget: AtomicI64::new(-1),
            connections: Mutex::default(),
        });
        let relay_state = state.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if relay_state.cut.load(Ordering::SeqCst) {
                    continue; // dropping `inbound` refuses the connection
                }
                let state = relay_state.clone();
                let relay = tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else { return };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let (client_read, client_write) = inbound.into_split();
                    let (server_read, server_write) = outbound.into_split();
                    tokio::join!(
                        requests(client_read, server_write, state.clone()),
                        responses(server_read, client_write, state)
                    );
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

    /// Drops every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.state.cut_all();
    }

    /// Accepts connections again, forwarding everything.
    pub fn restore(&self) {
        self.state.request_budget.store(-1, Ordering::SeqCst);
        self.state.drop_responses.store(false, Ordering::SeqCst);
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// While set, what the server sends is thrown away: requests arrive, answers never do.
    pub fn drop_responses(&self, drop: bool) {
        self.state.drop_responses.store(drop, Ordering::SeqCst);
    }

    /// Forwards at most `bytes` more from clients, then cuts every connection.
    pub fn cut_after_request_bytes(&self, bytes: u64) {
        self.state.request_budget.store(bytes as i64, Ordering::SeqCst);
    }
}

async fn requests(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, state: Arc<State>) {
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let allowed = state.take_budget(n);
        if to.write_all(&buffer[..allowed]).await.is_err() {
            break;
        }
        if allowed < n {
            let _ = to.flush().await;
            state.cut_all();
            break;
        }
    }
}

async fn responses(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, state: Arc<State>) {
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        if state.drop_responses.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
}

impl Drop for CuttableLink {
    fn drop(&mut self) {
        self.cut();
        self.accept_loop.abort();
    }
}
