//! The per-instance token cache.
//!
//! The host gives every job a fresh instance, so a token cached here lives exactly as
//! long as the job: it is reused by the job's later operations and never seen by
//! another job. Tokens stay in guest memory and are never written to state.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::http::Response;
use crate::request::Call;

/// Renew a token this long before the server says it expires (or after three
/// quarters of its life, for short-lived tokens).
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// An access token and when it stops being usable.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer token.
    pub access_token: String,
    /// When to stop using it; `None` for tokens without an expiry.
    pub expires_at: Option<Instant>,
}

impl Token {
    /// A token that the server says lives `expires_in` seconds from now.
    pub fn new(access_token: String, expires_in: Option<u64>) -> Token {
        let expires_at = expires_in.map(|s| {
            let life = Duration::from_secs(s);
            Instant::now() + life - EXPIRY_MARGIN.min(life / 4)
        });
        Token {
            access_token,
            expires_at,
        }
    }

    fn is_fresh(&self) -> bool {
        self.expires_at.is_none_or(|at| Instant::now() < at)
    }
}

thread_local! {
    static TOKENS: RefCell<HashMap<String, Token>> = RefCell::new(HashMap::new());
}

/// The cached token for `key` if it is still fresh, else a new one from `login`, which
/// is then cached. `key` identifies the server and the identity (never log it).
pub fn token(key: &str, login: impl FnOnce() -> Result<Token, Error>) -> Result<String, Error> {
    if let Some(token) = TOKENS.with(|t| t.borrow().get(key).filter(|t| t.is_fresh()).cloned()) {
        return Ok(token.access_token);
    }
    let token = login()?;
    let access_token = token.access_token.clone();
    TOKENS.with(|t| t.borrow_mut().insert(key.to_string(), token));
    Ok(access_token)
}

/// Forgets the token for `key`, after the server rejected it.
pub fn forget(key: &str) {
    TOKENS.with(|t| t.borrow_mut().remove(key));
}

/// The value of an HTTP Basic `authorization` header for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// How an adaptor authenticates: a bearer token, and whether it can get a new one.
pub trait Login {
    /// A bearer token: a configured one, the cached one, or a fresh one.
    fn token(&self) -> Result<String, Error>;
    /// Whether the adaptor obtains tokens itself (and so can obtain another).
    fn can_renew(&self) -> bool;
    /// Drops the cached token after the server rejected it.
    fn forget(&self);
}

/// Sends `call` with a bearer token from `login`. When the server rejects the token
/// (`rejected` says so: a 401, or an API's own way) and `login` can renew it, the
/// token is dropped, renewed and the request sent once more.
pub fn send_with_token(
    call: &mut Call,
    login: &impl Login,
    rejected: impl Fn(&Response) -> bool,
) -> Result<(Response, Duration), Error> {
    call.set_header("authorization", &format!("Bearer {}", login.token()?));
    let (response, duration) = call.exchange()?;
    if !rejected(&response) || !login.can_renew() {
        return Ok((response, duration));
    }
    crate::log::info("the server rejected the token; getting a new one and retrying once");
    login.forget();
    call.set_header("authorization", &format!("Bearer {}", login.token()?));
    call.exchange()
}

/// The expiry (`exp`, seconds since the Unix epoch) of a JWT, read without checking
/// its signature: the server checks it, the client only needs to know when to renew.
pub fn jwt_expiry(token: &str) -> Option<u64> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_u64()
}

/// Seconds from now until `exp` (seconds since the Unix epoch); 0 if it has passed.
pub fn seconds_until(exp: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    exp.saturating_sub(now)
}
