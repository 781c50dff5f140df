//! The `wasi:http` hooks of one job: the network policy, the request cap, time-out
//! clamps and the response size cap, applied to every request the guest sends.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

use super::LogBudget;
use super::client::Network;
use super::policy::{Policy, default_port};

/// What the hooks saw that the job's final error must mention: the guest only learns
/// "request denied" or "body too large", the host knows why.
#[derive(Debug, Default)]
pub struct Incidents {
    requests: AtomicU32,
    requests_exceeded: AtomicBool,
    response_too_large: AtomicBool,
    denied: Mutex<Vec<String>>,
}

impl Incidents {
    /// Requests sent so far.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Whether a request was refused because the job had used its request cap.
    pub fn requests_exceeded(&self) -> bool {
        self.requests_exceeded.load(Ordering::Relaxed)
    }

    /// Whether a response body was cut off at the size cap.
    pub fn response_too_large(&self) -> bool {
        self.response_too_large.load(Ordering::Relaxed)
    }

    /// The first origin the policy denied, if any.
    pub fn first_denied(&self) -> Option<String> {
        self.denied.lock().expect("incident lock").first().cloned()
    }

    fn deny(&self, origin: String) {
        self.denied.lock().expect("incident lock").push(origin);
    }
}

/// The hooks of one job.
pub struct Hooks {
    policy: Arc<Policy>,
    network: Option<Network>,
    incidents: Arc<Incidents>,
    log: Arc<LogBudget>,
    max_requests: u32,
    max_response_bytes: u64,
    max_wait: Duration,
}

impl Hooks {
    /// Hooks enforcing `policy` and the given caps, sending through `network` (`None`:
    /// no network at all, every request is denied); `max_wait` bounds every time-out
    /// (connect, first byte, between bytes) whatever the guest asks for. Warnings about
    /// the job go to its `log`, within its log budget.
    pub fn new(
        policy: Arc<Policy>,
        network: Option<Network>,
        incidents: Arc<Incidents>,
        log: Arc<LogBudget>,
        max_requests: u32,
        max_response_bytes: u64,
        max_wait: Duration,
    ) -> Hooks {
        Hooks {
            policy,
            network,
            incidents,
            log,
            max_requests,
            max_response_bytes,
            max_wait,
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)>> + Send>;

impl WasiHttpHooks for Hooks {
    /// The pooled client adds `Host` to HTTP/1 requests; HTTP/2 carries the authority
    /// in `:authority`, where a `Host` header as well is a protocol error to some
    /// servers.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().or_else(|| default_port(&scheme)).unwrap_or(0);
        let origin = format!("{scheme}://{host}:{port}");

        let sent = self.incidents.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if sent > self.max_requests {
            self.incidents.requests_exceeded.store(true, Ordering::Relaxed);
            self.log.warn(&format!(
                "refused a request: the job used its request limit of {}",
                self.max_requests
            ));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let network = match &self.network {
            Some(network) if self.policy.allows(&scheme, &host, port) => network.clone(),
            _ => {
                self.incidents.deny(origin.clone());
                self.log.warn(&format!(
                    "denied a request to {origin}: the origin is not named by the job's configuration (pass --allow-host {origin} to allow it)"
                ));
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        };
        let any_address = self.policy.allows_any_address(&scheme, &host, port);
        // Never the query: some APIs take credentials there; the path is masked.
        self.log.request(request.method().as_str(), &origin, uri.path());

        let timeouts = network.timeouts(options, self.max_wait);
        let limit = self.max_response_bytes;
        let incidents = Arc::clone(&self.incidents);
        Box::new(async move {
            let response = match network.send(request, any_address, timeouts).await {
                Ok(response) => response,
                Err(HttpError::HttpRequestDenied) => {
                    // The name resolved to an address the policy keeps it from (the
                    // client logged which).
                    incidents.deny(origin);
                    return Err(HttpError::HttpRequestDenied);
                }
                Err(error) => return Err(error),
            };
            let response = response.map(move |body| {
                http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
                    .map_err(move |e| match e.downcast::<HttpError>() {
                        Ok(inner) => *inner,
                        Err(_) => {
                            incidents.response_too_large.store(true, Ordering::Relaxed);
                            HttpError::HttpResponseBodySize(Some(limit))
                        }
                    })
                    .boxed_unsync()
            });
            // The pool drives the connection; nothing is left for the caller to run.
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::{BodyExt, Empty};

    use super::*;

    fn hooks(rules: &str, max_requests: u32) -> (Hooks, Arc<Incidents>) {
        let policy = Policy::new(vec![rules.parse().unwrap()]);
        let incidents = Arc::new(Incidents::default());
        let network = Network::new(crate::sandbox::client::NetworkOptions {
            extra_ca_file: None,
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(1),
            resolver: Arc::new(crate::sandbox::resolve::SystemResolver),
        })
        .unwrap();
        let hooks = Hooks::new(
            Arc::new(policy),
            Some(network),
            Arc::clone(&incidents),
            Arc::new(LogBudget::new(1 << 20, crate::events::JobLog::default())),
            max_requests,
            1 << 20,
            Duration::from_secs(1),
        );
        (hooks, incidents)
    }

    fn request(uri: &str) -> http::Request<WasiBody> {
        let body = Empty::new()
            .map_err(|never: std::convert::Infallible| match never {})
            .boxed_unsync();
        http::Request::get(uri).body(body).unwrap()
    }

    async fn send(hooks: &mut Hooks, uri: &str) -> Result<(), HttpError> {
        let future = hooks.send_request(request(uri), None, Box::new(async { Ok(()) }));
        Box::into_pin(future).await.map(|_| ())
    }

    #[tokio::test]
    async fn denies_an_origin_outside_the_policy_without_connecting() {
        let (mut hooks, incidents) = hooks("http://127.0.0.1:9", 10);
        let denied = send(&mut hooks, "http://127.0.0.2:9/x").await;
        assert!(matches!(denied, Err(HttpError::HttpRequestDenied)), "{denied:?}");
        assert_eq!(incidents.first_denied().as_deref(), Some("http://127.0.0.2:9"));
    }

    #[tokio::test]
    async fn denies_the_allowed_host_on_another_port_or_scheme() {
        let (mut hooks, incidents) = hooks("http://127.0.0.1:9", 10);
        assert!(matches!(
            send(&mut hooks, "http://127.0.0.1:10/").await,
            Err(HttpError::HttpRequestDenied)
        ));
        assert!(matches!(
            send(&mut hooks, "https://127.0.0.1:9/").await,
            Err(HttpError::HttpRequestDenied)
        ));
        assert_eq!(incidents.requests(), 2);
    }

    #[tokio::test]
    async fn passes_an_allowed_origin_to_the_network() {
        // Port 9 (discard) on loopback is closed here: the request is let through and
        // fails to connect, which is what "allowed" means to the hook.
        let (mut hooks, incidents) = hooks("http://127.0.0.1:9", 10);
        let sent = send(&mut hooks, "http://127.0.0.1:9/").await;
        assert!(!matches!(sent, Err(HttpError::HttpRequestDenied)), "{sent:?}");
        assert!(incidents.first_denied().is_none());
    }

    #[tokio::test]
    async fn hooks_without_a_network_deny_even_an_allowed_origin() {
        let (hooks, incidents) = hooks("http://127.0.0.1:9", 10);
        let mut offline = Hooks { network: None, ..hooks };
        assert!(matches!(
            send(&mut offline, "http://127.0.0.1:9/").await,
            Err(HttpError::HttpRequestDenied)
        ));
        assert_eq!(incidents.first_denied().as_deref(), Some("http://127.0.0.1:9"));
    }

    #[tokio::test]
    async fn refuses_requests_past_the_cap() {
        let (mut hooks, incidents) = hooks("http://127.0.0.1:9", 0);
        assert!(matches!(
            send(&mut hooks, "http://127.0.0.1:9/").await,
            Err(HttpError::HttpRequestDenied)
        ));
        assert!(incidents.requests_exceeded());
    }
}
