//! Running an axum router on `127.0.0.1:0` on its own thread.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use tokio::sync::oneshot;

/// The largest request body a simulator reads (far above any API's own limit).
const MAX_BODY: usize = 64 << 20;

/// A request as the simulator received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path, e.g. `/api/facilities`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A simulator serving on loopback. Dropping it stops the server.
pub struct Running {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Serves `router` on an ephemeral loopback port.
    pub fn start(router: Router) -> Running {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let router = router.layer(middleware::from_fn(move |req: Request, next: Next| {
            let log = Arc::clone(&log);
            async move {
                log.lock().expect("request log").push(Recorded {
                    method: req.method().to_string(),
                    path: req.uri().path().to_string(),
                    query: req.uri().query().map(str::to_string),
                    headers: req
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                        .collect(),
                });
                // Real servers read a request's body even when the handler ignores it;
                // closing with unread bytes makes the kernel reset the connection, and
                // the client would lose the answer (and retry work already done).
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, MAX_BODY).await.unwrap_or_default();
                let req = Request::from_parts(parts, axum::body::Body::from(body));
                Ok::<Response, std::convert::Infallible>(next.run(req).await)
            }
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("simulator-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("simulator runtime");
                runtime.block_on(async move {
                    // As nginx (OpenLMIS's gateway) does on keep-alive connections: without
                    // it, the tail of a large response waits for the client's delayed ACK.
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("tokio listener")
                        .tap_io(|tcp| {
                            let _ = tcp.set_nodelay(true);
                        });
                    // Stop at once on drop: a test's half-open connection must not hold it up.
                    tokio::select! {
                        served = axum::serve(listener, router) => served.expect("simulator server"),
                        _ = stopped => {}
                    }
                });
            })
            .expect("spawning the simulator thread");
        Running {
            addr,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("request log").clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
