//! Many small jobs in one process: 200 sequential jobs of one GET each through the
//! probe adaptor in the sandboxed host, against the same 200 GETs made by plain Rust
//! HTTP clients (one kept-alive connection; a new connection per request, which is
//! what the host did before it pooled connections). A loopback server counts the TCP
//! connections each way opens. Prints the medians of a few rounds and their ratios.
//!
//! Run with `cargo bench --bench jobs`.

#[allow(dead_code, reason = "each benchmark uses part of the shared code")]
mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adaptor_host::{Host, HostOptions, Job, RunOptions, run_job};
use common::Conn;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

const JOBS: usize = 200;
const ROUNDS: usize = 5;

#[tokio::main]
async fn main() {
    let (addr, connections) = counting_server().await;
    let host = Host::new(HostOptions::default()).expect("host");
    let probe = host.load_file(Path::new(env!("PROBE_WASM"))).expect("probe loads");
    let url = format!("http://{addr}/ok");
    let job = Job::parse(&json!([{"fetch": [url]}]).to_string()).unwrap();
    let state = json!({"configuration": {"endpoint": format!("http://{addr}")}});

    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let opened = connections.load(Ordering::SeqCst);
        let started = Instant::now();
        for _ in 0..JOBS {
            let outcome = run_job(&host, &probe, &job, state.clone(), &RunOptions::default()).await;
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
        }
        let host_run = (started.elapsed(), connections.load(Ordering::SeqCst) - opened);
        // The plain clients run after the host's round: its pooled connection stays idle.

        let mut plain = Vec::new();
        for keep_alive in [true, false] {
            let opened = connections.load(Ordering::SeqCst);
            let started = Instant::now();
            let mut client = Conn::new(addr, keep_alive);
            for _ in 0..JOBS {
                let request = hyper::Request::get("/ok")
                    .header("host", addr.to_string())
                    .body(Empty::new().boxed())
                    .unwrap();
                let (_, body) = client.send(request).await;
                assert_eq!(&body[..], b"ok");
            }
            plain.push((started.elapsed(), connections.load(Ordering::SeqCst) - opened));
        }
        rounds.push([host_run, plain[0], plain[1]]);
    }

    let median = |i: usize| {
        let mut times: Vec<_> = rounds.iter().map(|r| r[i]).collect();
        times.sort();
        times[times.len() / 2]
    };
    let opened = |i: usize| rounds.iter().map(|r| r[i].1).sum::<usize>();
    let (host_run, kept, fresh) = (median(0).0, median(1).0, median(2).0);
    let rate = |d: Duration| JOBS as f64 / d.as_secs_f64();
    println!(
        "{JOBS} sequential jobs of one GET each, one host; median of {ROUNDS} rounds, connections over all rounds"
    );
    println!(
        "  host (a job per GET, probe adaptor):    {:>7.0} jobs/s {:>5} connections",
        rate(host_run),
        opened(0)
    );
    println!(
        "  plain Rust, one kept-alive connection:  {:>7.0} req/s  {:>5} connections",
        rate(kept),
        opened(1)
    );
    println!(
        "  plain Rust, new connection per request: {:>7.0} req/s  {:>5} connections",
        rate(fresh),
        opened(2)
    );
    println!(
        "  time ratio host / plain (keep-alive):   {:.2}",
        host_run.as_secs_f64() / kept.as_secs_f64()
    );
    println!(
        "  time ratio host / plain (new conns):    {:.2}",
        host_run.as_secs_f64() / fresh.as_secs_f64()
    );
}

/// An HTTP/1 server on loopback answering `ok`, and the count of connections accepted.
async fn counting_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            accepted.fetch_add(1, Ordering::SeqCst);
            let service = hyper::service::service_fn(|_: hyper::Request<Incoming>| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    (addr, connections)
}
