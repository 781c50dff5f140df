//! The one HTTP client of a host process, behind every job's `send_request` hook.
//!
//! hyper-util's pooled client keeps connections alive per origin across requests and
//! jobs, and speaks HTTP/2 where the server offers it (ALPN), else HTTP/1.1. Its
//! connector is our own: it resolves a name once, checks every address it got, and
//! connects to a checked address (no second look-up a rebinding server could answer
//! differently), then does TLS with rustls over the platform's trust store plus an
//! optional extra CA file.
//!
//! Two pools share the connector's resolver and TLS settings: the *checked* pool
//! refuses a name that resolves to a non-public address
//! ([`non_public`](super::resolve::non_public)), the *trusted* pool does not. The
//! hooks send a request through the trusted pool only when its host is an IP literal
//! (an address the configuration or the operator wrote) or when an operator rule
//! (`--allow-host`) allows the origin. Separate pools also mean a connection opened
//! for a trusting job is never reused by a job that would have been refused.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::Uri;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::resolve::{Resolve, non_public};

/// How the host's client connects: trust, resolver and the host's caps on time-outs.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// A PEM file of CA certificates trusted besides the platform's.
    pub extra_ca_file: Option<PathBuf>,
    /// Longest wait for a new connection (look-up, TCP and TLS handshakes).
    pub connect_timeout: Duration,
    /// Longest wait for a response's head, and between two pieces of its body.
    pub first_byte_timeout: Duration,
    /// Looks up host names.
    pub resolver: Arc<dyn Resolve>,
}

/// The host's pooled HTTP client; cheap to clone (clones share the pools).
#[derive(Clone)]
pub struct Network {
    checked: Client<Connector, WasiBody>,
    trusted: Client<Connector, WasiBody>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
}

/// The time-outs of one request, already clamped by the host and the job.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a new connection.
    pub connect: Duration,
    /// For the response's head.
    pub first_byte: Duration,
    /// Between two pieces of the response body.
    pub between_bytes: Duration,
}

impl Network {
    /// The client; reads and checks `extra_ca_file` now (the platform's roots are read
    /// on the first HTTPS connection, so runs that make none do not pay for it).
    pub fn new(options: NetworkOptions) -> Result<Network, String> {
        let extra_roots = match &options.extra_ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let shared = Arc::new(Shared {
            resolver: options.resolver,
            extra_roots,
            tls: OnceLock::new(),
            connect_timeout: options.connect_timeout,
        });
        let client = |check_addresses| {
            Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(Connector {
                    shared: Arc::clone(&shared),
                    check_addresses,
                })
        };
        Ok(Network {
            checked: client(true),
            trusted: client(false),
            connect_timeout: options.connect_timeout,
            first_byte_timeout: options.first_byte_timeout,
        })
    }

    /// The host's caps applied to what the guest asked for (`None`: the caps) and to
    /// `job_max`, the job's own bound.
    pub fn timeouts(&self, asked: Option<wasmtime_wasi_http::RequestOptions>, job_max: Duration) -> Timeouts {
        let asked = asked.unwrap_or_default();
        let clamp = |asked: Option<Duration>, host: Duration| asked.unwrap_or(host).min(host).min(job_max);
        Timeouts {
            connect: clamp(asked.connect_timeout, self.connect_timeout),
            first_byte: clamp(asked.first_byte_timeout, self.first_byte_timeout),
            between_bytes: clamp(asked.between_bytes_timeout, self.first_byte_timeout),
        }
    }

    /// Sends `request` (absolute URI) through the trusted pool or the checked one.
    /// A connection the checked pool refuses fails with
    /// [`HttpError::HttpRequestDenied`] (the reason is logged here).
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        trusted: bool,
        timeouts: Timeouts,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let client = if trusted { &self.trusted } else { &self.checked };
        // The head must come within the connect and first-byte waits together: a pooled
        // connection needs no connect, a new one gets the connector's own bound too.
        let response = tokio::time::timeout(timeouts.connect + timeouts.first_byte, client.request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(|e| http_error(&e))?;
        let gap = timeouts.between_bytes.max(Duration::from_nanos(1));
        Ok(response.map(|incoming| {
            TimedBody {
                incoming,
                sleep: Box::pin(tokio::time::sleep(gap)),
                gap,
                armed: false,
            }
            .boxed_unsync()
        }))
    }
}

/// The `wasi:http` error for a failure of the pooled client.
fn http_error(error: &hyper_util::client::legacy::Error) -> HttpError {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return connect.to_http();
        }
        if let Some(HttpError::HttpRequestBodySize(size)) = cause.downcast_ref::<HttpError>() {
            return HttpError::HttpRequestBodySize(*size);
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return HttpError::HttpResponseTimeout;
            }
            if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                return HttpError::ConnectionTerminated;
            }
            if hyper.is_parse() || hyper.is_parse_status() {
                return HttpError::HttpProtocolError;
            }
        }
        source = cause.source();
    }
    HttpError::InternalError(Some(format!("{error:#}")))
}

/// What the connectors share: one resolver, one TLS configuration.
struct Shared {
    resolver: Arc<dyn Resolve>,
    extra_roots: Vec<CertificateDer<'static>>,
    tls: OnceLock<Arc<ClientConfig>>,
    connect_timeout: Duration,
}

impl Shared {
    fn tls(&self) -> Arc<ClientConfig> {
        Arc::clone(self.tls.get_or_init(|| tls_config(&self.extra_roots)))
    }
}

/// The certificates of a PEM file, each checked to be a usable trust anchor.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let problem = |what: String| format!("the extra CA file {}: {what}", path.display());
    let pem = std::fs::read(path).map_err(|e| problem(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(format!("not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(problem("no CERTIFICATE block in it".into()));
    }
    let mut store = RootCertStore::empty();
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|e| problem(format!("a certificate is unusable as a trust anchor ({e})")))?;
    }
    Ok(certs)
}

/// rustls with ring, the platform's roots and `extra`, offering HTTP/2 and HTTP/1.1.
fn tls_config(extra: &[CertificateDer<'static>]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "reading the platform's CA certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    roots.add_parsable_certificates(extra.iter().cloned());
    tracing::debug!(platform = added, ignored, extra = extra.len(), "TLS trust store");
    if roots.is_empty() {
        tracing::warn!(
            "no trusted CA certificates: HTTPS requests will fail (install the platform's CA bundle or give an extra CA file)"
        );
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Resolves, checks, connects and does TLS: the pooled client's `Connect`.
#[derive(Clone)]
struct Connector {
    shared: Arc<Shared>,
    /// Refuse a name that resolves to a non-public address.
    check_addresses: bool,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Stream>, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(uri).await.map(TokioIo::new) })
    }
}

impl Connector {
    async fn connect(self, uri: Uri) -> Result<Stream, ConnectError> {
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri
            .host()
            .ok_or(ConnectError::NoHost)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let deadline = Instant::now() + self.shared.connect_timeout;

        let addresses = match host.parse() {
            // A literal address was written by whoever configured it: nothing to check.
            Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
            Err(_) => {
                let addresses = tokio::time::timeout_at(deadline, self.shared.resolver.resolve(&host, port))
                    .await
                    .map_err(|_| ConnectError::DnsTimeout)?
                    .map_err(|source| ConnectError::Dns {
                        host: host.clone(),
                        source,
                    })?;
                if self.check_addresses
                    && let Some((address, kind)) = addresses.iter().find_map(|a| Some((a.ip(), non_public(a.ip())?)))
                {
                    let refused = ConnectError::Refused { host, address, kind };
                    tracing::warn!("{refused}");
                    return Err(refused);
                }
                addresses
            }
        };

        let tcp = tokio::time::timeout_at(deadline, connect_any(&addresses))
            .await
            .map_err(|_| ConnectError::Timeout)??;
        tracing::debug!(%host, address = ?tcp.peer_addr().ok(), tls, "new connection");
        if !tls {
            return Ok(Stream::Plain(tcp));
        }
        let name = match host.parse() {
            Ok(ip) => ServerName::IpAddress(std::net::IpAddr::into(ip)),
            Err(_) => ServerName::try_from(host).map_err(|_| ConnectError::NoHost)?,
        };
        let connector = tokio_rustls::TlsConnector::from(self.shared.tls());
        let stream = tokio::time::timeout_at(deadline, connector.connect(name, tcp))
            .await
            .map_err(|_| ConnectError::Timeout)?
            .map_err(ConnectError::Tls)?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}

/// The first of `addresses` that accepts a connection.
async fn connect_any(addresses: &[std::net::SocketAddr]) -> Result<TcpStream, ConnectError> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                // Requests are written whole; do not hold back their last segment.
                stream.set_nodelay(true).map_err(ConnectError::Io)?;
                return Ok(stream);
            }
            Err(error) => last = error,
        }
    }
    Err(ConnectError::Io(last))
}

/// Why a new connection failed.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error(
        "refused to connect to {host}: it resolves to {address}, {kind}; a name must resolve to a public \
         address unless --allow-host names it (or the configuration gives the address itself)"
    )]
    Refused {
        host: String,
        address: std::net::IpAddr,
        kind: &'static str,
    },
    #[error("resolving {host}: {source}")]
    Dns { host: String, source: io::Error },
    #[error("resolving the host name timed out")]
    DnsTimeout,
    #[error("connecting timed out")]
    Timeout,
    #[error("the URL has no valid host")]
    NoHost,
    #[error("connecting: {0}")]
    Io(io::Error),
    #[error("TLS: {0}")]
    Tls(io::Error),
}

impl ConnectError {
    fn to_http(&self) -> HttpError {
        match self {
            ConnectError::Refused { .. } => HttpError::HttpRequestDenied,
            ConnectError::Dns { source, .. } => HttpError::DnsError {
                rcode: Some(source.to_string()),
                info_code: None,
            },
            ConnectError::DnsTimeout => HttpError::DnsTimeout,
            ConnectError::Timeout => HttpError::ConnectionTimeout,
            ConnectError::NoHost => HttpError::HttpRequestUriInvalid,
            ConnectError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
            ConnectError::Io(e) => HttpError::Connect(io::Error::new(e.kind(), e.to_string())),
            ConnectError::Tls(e) => match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::InvalidCertificate(_)) => HttpError::TlsCertificateError,
                Some(rustls::Error::AlertReceived(alert)) => HttpError::TlsAlertReceived {
                    alert_id: Some(u8::from(*alert)),
                    alert_message: Some(format!("{alert:?}")),
                },
                _ => HttpError::TlsProtocolError,
            },
        }
    }
}

/// A connection, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Tls(tls) if tls.get_ref().1.alpn_protocol() == Some(b"h2") => Connected::new().negotiated_h2(),
            _ => Connected::new(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A response body that fails when the server sends nothing for `gap` while the
/// guest waits for more (the guest's own pauses do not count).
struct TimedBody {
    incoming: Incoming,
    sleep: Pin<Box<Sleep>>,
    gap: Duration,
    /// Whether `sleep` measures the current wait.
    armed: bool,
}

impl Body for TimedBody {
    type Data = hyper::body::Bytes;
    type Error = HttpError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, HttpError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| {
                    f.map_err(|e| {
                        if e.is_timeout() {
                            HttpError::HttpResponseTimeout
                        } else {
                            HttpError::Hyper(e)
                        }
                    })
                }))
            }
            Poll::Pending => {
                if !this.armed {
                    this.sleep.as_mut().reset(Instant::now() + this.gap);
                    this.armed = true;
                }
                ready!(this.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::resolve::SystemResolver;

    #[test]
    fn timeouts_take_the_least_of_guest_host_and_job() {
        let network = Network::new(NetworkOptions {
            extra_ca_file: None,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            resolver: Arc::new(SystemResolver),
        })
        .unwrap();
        let none = network.timeouts(None, Duration::from_secs(30));
        assert_eq!(none.connect, Duration::from_secs(10));
        assert_eq!(none.first_byte, Duration::from_secs(30), "the job's bound");
        assert_eq!(none.between_bytes, Duration::from_secs(30));
        let asked = wasmtime_wasi_http::RequestOptions {
            connect_timeout: Some(Duration::from_secs(2)),
            first_byte_timeout: Some(Duration::from_secs(600)),
            between_bytes_timeout: Some(Duration::from_millis(5)),
        };
        let some = network.timeouts(Some(asked), Duration::from_secs(300));
        assert_eq!(some.connect, Duration::from_secs(2));
        assert_eq!(some.first_byte, Duration::from_secs(60), "the host's cap");
        assert_eq!(some.between_bytes, Duration::from_millis(5));
    }

    #[test]
    fn an_extra_ca_file_must_hold_usable_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let error = read_ca_file(&empty).unwrap_err();
        assert!(error.contains("no CERTIFICATE"), "{error}");
        let missing = read_ca_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(missing.contains("missing.pem"), "{missing}");
    }
}
