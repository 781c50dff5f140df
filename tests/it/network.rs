use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use adaptor_host::{Adaptor, AllowRule, Error, Host, HostOptions, Job, Outcome, RunOptions, StaticResolver, run_job};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::util::options;

/// A name the test resolver maps to loopback, as a split-horizon DNS might.
const INTERNAL: &str = "internal.example.test";
/// A name in the TLS fixture's certificate (`fixtures/server.pem`, for this name and
/// 127.0.0.1, issued by `fixtures/ca.pem` with openssl, valid until 2126), also mapped
/// to loopback.
const TLS_NAME: &str = "tls.example.test";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/it/fixtures")
        .join(name)
}

/// A host of its own whose resolver knows the test names, trusting the test CA, and
/// the probe loaded in it.
fn host_and_probe() -> &'static (Host, Adaptor) {
    static HOST: OnceLock<(Host, Adaptor)> = OnceLock::new();
    HOST.get_or_init(|| {
        let loopback = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let host = Host::new(HostOptions {
            resolver: Some(Arc::new(StaticResolver::new([
                (INTERNAL, loopback.clone()),
                (TLS_NAME, loopback),
            ]))),
            extra_ca_file: Some(fixture("ca.pem")),
            ..HostOptions::default()
        })
        .expect("host");
        let probe = host.load_file(Path::new(env!("PROBE_WASM"))).expect("probe loads");
        (host, probe)
    })
}

async fn run(job: Value, configuration: Value, options: &RunOptions) -> Outcome {
    let (host, probe) = host_and_probe();
    let job = Job::parse(&job.to_string()).expect("test job parses");
    run_job(host, probe, &job, json!({"configuration": configuration}), options).await
}

/// A loopback server answering every request with the HTTP version it arrived in,
/// counting the TCP connections it accepts; over TLS with the fixture certificate
/// (offering HTTP/2 and HTTP/1.1) when `tls`.
struct Counting {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

impl Counting {
    async fn start(tls: bool) -> Counting {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let acceptor = tls.then(tls_acceptor);
        let (accepted, served) = (Arc::clone(&connections), Arc::clone(&requests));
        let accept = tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                let served = Arc::clone(&served);
                let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                    served.fetch_add(1, Ordering::SeqCst);
                    let version = format!("{:?}", request.version());
                    async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(version)))) }
                });
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Some(acceptor) = acceptor else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        return;
                    };
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                });
            }
        });
        Counting {
            addr,
            connections,
            requests,
            accept,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_name_that_resolves_to_loopback_is_refused_before_connecting() {
    let server = Counting::start(false).await;
    let origin = format!("http://{INTERNAL}:{}", server.addr.port());
    let job = json!([{"fetch": [format!("{origin}/ok")]}]);
    let outcome = run(job, json!({"endpoint": origin}), &options()).await;
    match outcome.error {
        Some(Error::Denied { origin: denied, .. }) => assert_eq!(denied, origin),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(server.connections(), 0, "the server saw nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_host_rule_for_the_name_lets_it_reach_loopback() {
    let server = Counting::start(false).await;
    let origin = format!("http://{INTERNAL}:{}", server.addr.port());
    let job = json!([{"fetch": [format!("{origin}/ok")]}]);
    let allow: AllowRule = origin.parse().unwrap();
    let options = RunOptions {
        allow: vec![allow],
        ..options()
    };
    let outcome = run(job, json!({"endpoint": origin}), &options).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"]["status"], 200);
    assert_eq!(server.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_literal_in_the_configuration_may_be_loopback() {
    let server = Counting::start(false).await;
    let origin = format!("http://{}", server.addr);
    let outcome = run(
        json!([{"fetch": [format!("{origin}/ok")]}]),
        json!({"endpoint": origin}),
        &options(),
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_100_gets_to_one_origin_opens_one_connection() {
    let server = Counting::start(false).await;
    let origin = format!("http://{}", server.addr);
    let job = json!([{"fetchMany": [format!("{origin}/ok"), 100]}]);
    let outcome = run(job, json!({"endpoint": origin}), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"]["ok"], 100, "{}", outcome.state["data"]);
    assert_eq!(server.requests(), 100);
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sequential_jobs_reuse_the_connection() {
    let server = Counting::start(false).await;
    let origin = format!("http://{}", server.addr);
    for _ in 0..20 {
        let job = json!([{"fetch": [format!("{origin}/ok")]}]);
        let outcome = run(job, json!({"endpoint": origin}), &options()).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    }
    assert_eq!(server.requests(), 20);
    assert!(server.connections() <= 2, "{} connections", server.connections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_an_extra_ca_speaks_http2_over_one_connection() {
    let server = Counting::start(true).await;
    let origin = format!("https://{TLS_NAME}:{}", server.addr.port());
    // The name resolves to loopback: the operator allows it explicitly.
    let options = RunOptions {
        allow: vec![origin.parse().unwrap()],
        ..options()
    };
    let job = json!([{"fetch": [format!("{origin}/v")]}, {"fetchMany": [format!("{origin}/v"), 20]}]);
    let outcome = run(job, json!({"endpoint": origin}), &options).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let first = outcome.state["references"].as_array().and_then(|r| r.last()).cloned();
    assert_eq!(first.unwrap_or_default()["body"], "HTTP/2.0", "{}", outcome.state);
    assert_eq!(outcome.state["data"]["ok"], 20, "{}", outcome.state["data"]);
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_server_the_trust_store_does_not_know_fails_on_the_certificate() {
    let server = Counting::start(true).await;
    // The default host does not trust the test CA (the certificate names 127.0.0.1).
    let url = format!("https://{}/v", server.addr);
    let outcome = crate::util::run(
        crate::util::probe(),
        &json!([{"fetch": [url]}]).to_string(),
        json!({"endpoint": format!("https://{}", server.addr)}),
        &options(),
    )
    .await;
    let message = outcome.state["errors"]["test"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(outcome.error.is_some(), "{}", outcome.state);
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert_eq!(server.requests(), 0);
}
