//! What the benchmarks share: the plain Rust HTTP client (hyper, HTTP/1.1) they measure
//! the host against, the requests an OpenLMIS job makes, and statistics.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// The demo OpenLMIS user and client the simulator knows.
const LOGIN_FORM: &str = "grant_type=password&username=administrator&password=password";
const CLIENT: &str = "user-client:changeme";

/// The OpenLMIS configuration of the simulator at `base_url` (a login per job).
pub fn openlmis_configuration(base_url: &str) -> Value {
    json!({"baseUrl": base_url, "username": "administrator", "password": "password",
           "clientId": "user-client", "clientSecret": "changeme"})
}

/// A request body of the plain client.
pub type Body = BoxBody<Bytes, Infallible>;

/// One HTTP/1.1 connection of the plain client, kept alive across requests or
/// replaced for each one.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<hyper::client::conn::http1::SendRequest<Body>>,
    keep_alive: bool,
}

impl Conn {
    /// A client of the server at `addr`; connects on the first request.
    pub fn new(addr: SocketAddr, keep_alive: bool) -> Conn {
        Conn {
            addr,
            sender: None,
            keep_alive,
        }
    }

    /// Sends `request` and reads the whole response.
    pub async fn send(&mut self, request: hyper::Request<Body>) -> (hyper::StatusCode, Bytes) {
        if self.sender.is_none() || !self.keep_alive {
            let stream = TcpStream::connect(self.addr).await.expect("connecting");
            // As the host's client does: requests are written whole.
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("HTTP/1 handshake");
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender.ready().await.expect("connection ready");
        let response = sender.send_request(request).await.expect("a response");
        let status = response.status();
        let body = response.into_body().collect().await.expect("the body").to_bytes();
        (status, body)
    }

    /// Sends `request` and parses the body as JSON; panics on a status other than 2xx.
    pub async fn json(&mut self, request: hyper::Request<Body>) -> Value {
        let (status, body) = self.send(request).await;
        assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("a JSON body")
    }

    /// Logs in as the OpenLMIS adaptor does (password grant, HTTP Basic client
    /// credentials) and returns the access token.
    pub async fn login(&mut self) -> String {
        let basic = base64::engine::general_purpose::STANDARD.encode(CLIENT);
        let request = hyper::Request::post("/api/oauth/token")
            .header("host", self.addr.to_string())
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from_static(LOGIN_FORM.as_bytes())).boxed())
            .expect("a request");
        let token = self.json(request).await;
        token["access_token"].as_str().expect("an access token").to_string()
    }

    /// `GET path` with the bearer token, parsed as JSON.
    pub async fn get(&mut self, path: &str, token: &str) -> Value {
        let request = hyper::Request::get(path)
            .header("host", self.addr.to_string())
            .header("authorization", format!("Bearer {token}"))
            .body(Empty::new().boxed())
            .expect("a request");
        self.json(request).await
    }

    /// Logs in and GETs every page of `/api/{collection}` as `getAll` does (Spring
    /// pages of `page_size`, each parsed and its items collected); returns the items.
    pub async fn all_pages(&mut self, collection: &str, page_size: usize) -> Vec<Value> {
        let token = self.login().await;
        let mut items = Vec::new();
        for page in 0.. {
            let mut body = self
                .get(&format!("/api/{collection}?page={page}&size={page_size}"), &token)
                .await;
            match body["content"].take() {
                Value::Array(content) => items.extend(content),
                other => panic!("not a page: {other}"),
            }
            if body["last"] == true {
                break;
            }
        }
        items
    }
}

/// The median of `times`.
pub fn median(times: Vec<Duration>) -> Duration {
    percentile(times, 50.0)
}

/// The `p`th percentile of `times` (nearest rank).
pub fn percentile(mut times: Vec<Duration>, p: f64) -> Duration {
    times.sort();
    let rank = (p / 100.0 * times.len() as f64).ceil() as usize;
    times[rank.clamp(1, times.len()) - 1]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Microseconds, for printing.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
