//! Pulls the simulator's 10,234 orderables page by page, twice in the same run:
//! through the OpenLMIS adaptor in the sandboxed host (`getAll`), and with a plain
//! Rust HTTP loop doing the same requests (log in, then one GET per page, parse each
//! page, collect the items). Prints the medians and their ratio.
//!
//! Run with `cargo bench --bench orderables`. The host keeps one connection alive per
//! origin, so the keep-alive loop is the like-for-like baseline; the loop opening a new
//! connection per request (what the host did before it pooled) is printed for reference.

use std::time::{Duration, Instant};

use adaptor_host::{Host, HostOptions, Job, RunOptions, run_job};
use base64::Engine as _;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use simulators::openlmis::{DEMO_ORDERABLE_COUNT, Simulator};
use tokio::net::TcpStream;

const PAGE_SIZE: usize = 100;
const ROUNDS: usize = 7;

#[tokio::main]
async fn main() {
    let sim = Simulator::start();
    let host = Host::new(HostOptions::default()).expect("host");
    let adaptor = host.load_builtin("openlmis").expect("adaptor");
    let job = Job::parse(&json!([{"getAll": ["orderables", null, {"pageSize": PAGE_SIZE}]}]).to_string()).unwrap();
    let configuration = json!({"baseUrl": sim.base_url(), "username": "administrator", "password": "password",
                               "clientId": "user-client", "clientSecret": "changeme"});

    let mut adaptor_times = Vec::new();
    let mut fresh_times = Vec::new();
    let mut pooled_times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let outcome = run_job(
            &host,
            &adaptor,
            &job,
            json!({"configuration": configuration}),
            &RunOptions::default(),
        )
        .await;
        adaptor_times.push(started.elapsed());
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_eq!(outcome.state["data"].as_array().unwrap().len(), DEMO_ORDERABLE_COUNT);

        let started = Instant::now();
        assert_eq!(plain_loop(&sim, false).await, DEMO_ORDERABLE_COUNT);
        fresh_times.push(started.elapsed());

        let started = Instant::now();
        assert_eq!(plain_loop(&sim, true).await, DEMO_ORDERABLE_COUNT);
        pooled_times.push(started.elapsed());
    }
    let (adaptor, fresh, pooled) = (median(adaptor_times), median(fresh_times), median(pooled_times));
    let pages = DEMO_ORDERABLE_COUNT.div_ceil(PAGE_SIZE);
    println!("orderables: {DEMO_ORDERABLE_COUNT} items in {pages} pages of {PAGE_SIZE}, median of {ROUNDS} rounds");
    println!("  adaptor (getAll in the sandbox):        {:>8.1} ms", ms(adaptor));
    println!("  plain Rust loop, new connection/request: {:>8.1} ms", ms(fresh));
    println!("  plain Rust loop, one kept-alive conn:    {:>8.1} ms", ms(pooled));
    println!(
        "  ratio adaptor / plain (keep-alive, same connections): {:.2}",
        ms(adaptor) / ms(pooled)
    );
    println!(
        "  ratio adaptor / plain (new connection per request):   {:.2}",
        ms(adaptor) / ms(fresh)
    );
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Logs in and GETs every page like the adaptor does; returns the number of items.
async fn plain_loop(sim: &Simulator, keep_alive: bool) -> usize {
    let addr = sim.server().addr();
    let mut client = Client {
        addr,
        sender: None,
        keep_alive,
    };
    let basic = base64::engine::general_purpose::STANDARD.encode("user-client:changeme");
    let form = "grant_type=password&username=administrator&password=password";
    let token: Value = client
        .send(
            hyper::Request::post("/api/oauth/token")
                .header("host", addr.to_string())
                .header("authorization", format!("Basic {basic}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(form)).boxed())
                .unwrap(),
        )
        .await;
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let mut items = Vec::new();
    for page in 0.. {
        let body: Value = client
            .send(
                hyper::Request::get(format!("/api/orderables?page={page}&size={PAGE_SIZE}"))
                    .header("host", addr.to_string())
                    .header("authorization", &bearer)
                    .body(Empty::new().boxed())
                    .unwrap(),
            )
            .await;
        items.extend(body["content"].as_array().unwrap().iter().cloned());
        if body["last"] == true {
            break;
        }
    }
    items.len()
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

struct Client {
    addr: std::net::SocketAddr,
    sender: Option<hyper::client::conn::http1::SendRequest<Body>>,
    keep_alive: bool,
}

impl Client {
    async fn send(&mut self, request: hyper::Request<Body>) -> Value {
        if self.sender.is_none() || !self.keep_alive {
            let stream = TcpStream::connect(self.addr).await.unwrap();
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().unwrap();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }
}
