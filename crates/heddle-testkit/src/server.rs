//! An axum router served on `127.0.0.1`, which a test can stop (connections refused) and
//! start again on the same port.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a stop waits for open connections to finish before cutting them.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A router listening on a loopback port.
#[derive(Debug)]
pub struct LoopbackServer {
    addr: SocketAddr,
    router: Router,
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl LoopbackServer {
    /// Serves `router` on `127.0.0.1` at a free port.
    pub async fn start(router: Router) -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let running = spawn(listener, router.clone());
        Ok(Self {
            addr,
            router,
            running: Mutex::new(Some(running)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .map(|running| running.is_some())
            .unwrap_or(false)
    }

    /// Stops listening; new connections are refused until [`restart`](Self::restart). Idle
    /// keep-alive connections are closed; busy ones get a short grace period, then are cut.
    pub async fn stop(&self) {
        let running = self.running.lock().ok().and_then(|mut slot| slot.take());
        if let Some(Running { shutdown, mut task }) = running {
            let _ = shutdown.send(());
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }

    /// Listens again on the same port (after [`stop`](Self::stop)); a no-op while running.
    pub async fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr).await?;
        let running = spawn(listener, self.router.clone());
        if let Ok(mut slot) = self.running.lock() {
            *slot = Some(running);
        }
        Ok(())
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.running.lock()
            && let Some(running) = slot.take()
        {
            running.task.abort();
        }
    }
}

fn spawn(listener: TcpListener, router: Router) -> Running {
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = signal.await;
            })
            .await;
    });
    Running { shutdown, task }
}
