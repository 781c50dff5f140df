//! The worker's JWT: what Lightning checks when the socket connects.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// The issuer Lightning requires of worker tokens.
const ISSUER: &str = "urn:openfn:worker";

/// An HS256 token keyed with the UTF-8 bytes of `secret`, header exactly
/// `{"alg":"HS256"}`, claims `{worker_id, iat, iss}` (no expiry, as ws-worker).
pub fn worker_token(secret: &str, worker_id: &str) -> String {
    let iat = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({"worker_id": worker_id, "iat": iat, "iss": ISSUER}).to_string());
    let input = format!("{header}.{claims}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{input}.{signature}")
}
