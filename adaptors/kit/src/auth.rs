//! The per-instance token cache.
//!
//! The host gives every job a fresh instance, so a token cached here lives exactly as
//! long as the job: it is reused by the job's later operations and never seen by
//! another job. Tokens stay in guest memory and are never written to state.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::Error;

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
