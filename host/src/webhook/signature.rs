//! OpenCRVS's webhook signature: `X-Hub-Signature: sha256=<hex>`, the HMAC-SHA256 of
//! `"sha256:" + encodeURIComponent(body)` keyed with the client's SHA secret, over the
//! whole raw body (not what the documentation says: see the reference, §5).

use hmac::{Hmac, Mac};
use percent_encoding::utf8_percent_encode;
use sha2::Sha256;

use crate::redact::COMPONENT;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature` header.
    #[error("the delivery has no X-Hub-Signature header")]
    Missing,
    /// A header that is not `sha256=<64 hex digits>` (e.g. the documentation's `sha1=`).
    #[error("the X-Hub-Signature header is not sha256=<hex>")]
    Malformed,
    /// A well-formed signature that does not match the body.
    #[error("the X-Hub-Signature does not match the body")]
    Mismatch,
    /// The body is not UTF-8, so it cannot be what OpenCRVS signed.
    #[error("the delivery body is not UTF-8")]
    NotText,
}

fn mac(secret: &str, body: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"sha256:");
    for part in utf8_percent_encode(body, COMPONENT) {
        mac.update(part.as_bytes());
    }
    mac
}

/// The `X-Hub-Signature` value OpenCRVS sends for `body`.
pub fn sign(secret: &str, body: &str) -> String {
    format!("sha256={}", hex::encode(mac(secret, body).finalize().into_bytes()))
}

/// Checks a delivery's `X-Hub-Signature` header against its raw body, in constant time.
pub fn verify(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let digest = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(digest).map_err(|_| SignatureError::Malformed)?;
    let body = std::str::from_utf8(body).map_err(|_| SignatureError::NotText)?;
    mac(secret, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_its_own_signature_and_refuses_changes() {
        let body = r#"{"event":{"hub":{"topic":"BIRTH_REGISTERED"}},"name":"Äöå (x)"}"#;
        let header = sign("sha-secret", body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert_eq!(verify("sha-secret", body.as_bytes(), Some(&header)), Ok(()));
        assert_eq!(
            verify("other", body.as_bytes(), Some(&header)),
            Err(SignatureError::Mismatch)
        );
        let tampered = body.replace("Äöå", "Mallory");
        assert_eq!(
            verify("sha-secret", tampered.as_bytes(), Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("sha-secret", body.as_bytes(), None),
            Err(SignatureError::Missing)
        );
        let sha1 = format!("sha1={}", &header[7..47]);
        assert_eq!(
            verify("sha-secret", body.as_bytes(), Some(&sha1)),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn encodes_like_encode_uri_component() {
        // encodeURIComponent keeps these; a signature over a differently encoded body
        // would not match OpenCRVS's.
        let encoded: String = utf8_percent_encode("a-_.!~*'() é/?&=", COMPONENT).collect();
        assert_eq!(encoded, "a-_.!~*'()%20%C3%A9%2F%3F%26%3D");
    }
}
