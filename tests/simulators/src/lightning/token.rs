//! Tokens: the worker JWT checked at connect, and the run tokens handed out by `claim`.
//!
//! The worker token is what ws-worker makes (`util/worker-token.ts`): HS256 keyed with
//! the UTF-8 bytes of `WORKER_SECRET`, header `{"alg":"HS256"}`, claims
//! `{worker_id, iat, iss:"urn:openfn:worker"}`. Newer Lightning verifies it when the
//! socket connects and requires those three claims.
//!
//! Run tokens: Lightning signs them RS256 with its private key (`id`, `sub`, `iss`,
//! `nbf`, `exp`). This simulator signs the same claims HS256 with a key of its own: a
//! worker must treat the token as opaque and only present it when joining `run:<id>`
//! (verifying it is optional in ws-worker), so the algorithm does not matter to it.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The issuer ws-worker puts in its tokens.
pub const WORKER_ISSUER: &str = "urn:openfn:worker";

pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn mac(key: &[u8], signing_input: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(signing_input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sign(key: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = URL_SAFE_NO_PAD.encode(mac(key, &input));
    format!("{input}.{signature}")
}

/// A token signed as ws-worker signs it (HS256, header `{"alg":"HS256"}`) over any
/// `claims`: tests use it to forge tokens with a wrong issuer or a missing claim.
pub fn sign_worker_claims(secret: &str, claims: &Value) -> String {
    sign(secret.as_bytes(), &json!({"alg": "HS256"}), claims)
}

/// A valid worker token for `worker_id`, as ws-worker makes it at start.
pub fn worker_token(secret: &str, worker_id: &str) -> String {
    sign_worker_claims(
        secret,
        &json!({"worker_id": worker_id, "iat": now_secs(), "iss": WORKER_ISSUER}),
    )
}

/// The claims of a valid worker token, or why it is refused.
pub(crate) fn verify_worker(secret: &str, token: &str) -> Result<Value, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS (three dot-separated parts)".into());
    };
    let decode_json = |part: &str, what: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| format!("{what} is not base64url without padding"))?;
        serde_json::from_slice::<Value>(&bytes).map_err(|_| format!("{what} is not JSON"))
    };
    let header = decode_json(header, "header")?;
    if header["alg"] != "HS256" {
        return Err(format!("header alg must be HS256, got {}", header["alg"]));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "signature is not base64url without padding".to_string())?;
    let input = &token[..token.rfind('.').expect("three parts")];
    let mut check = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    check.update(input.as_bytes());
    check
        .verify_slice(&signature)
        .map_err(|_| "signature does not match WORKER_SECRET".to_string())?;
    let claims = decode_json(claims, "claims")?;
    if !claims.is_object() {
        return Err("claims are not a JSON object".into());
    }
    if claims["iss"] != WORKER_ISSUER {
        return Err(format!("iss must be {WORKER_ISSUER:?}, got {}", claims["iss"]));
    }
    if !claims["iat"].is_number() {
        return Err("iat (a number) is required".into());
    }
    if claims["worker_id"].as_str().is_none_or(str::is_empty) {
        return Err("worker_id (a non-empty string) is required".into());
    }
    let now = now_secs() as f64;
    if claims["exp"].as_f64().is_some_and(|exp| exp <= now) {
        return Err("token expired (exp)".into());
    }
    if claims["nbf"].as_f64().is_some_and(|nbf| nbf > now + 5.0) {
        return Err("token not yet valid (nbf)".into());
    }
    Ok(claims)
}

/// A run token: Lightning's claims, signed HS256 with the simulator's own key.
pub(crate) fn run_token(key: &[u8], run_id: &str, lifetime_secs: u64) -> String {
    let now = now_secs();
    sign(
        key,
        &json!({"alg": "HS256", "typ": "JWT"}),
        &json!({
            "id": run_id,
            "sub": format!("run:{run_id}"),
            "iss": "Lightning",
            "nbf": now,
            "exp": now + lifetime_secs,
        }),
    )
}
