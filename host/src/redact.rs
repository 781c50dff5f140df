//! Masking configuration values in everything a job shows: logs, errors and output.

use serde_json::Value;

/// What a masked value is replaced with (OpenFn's logger uses the same).
pub const MASK: &str = "****";

/// Replaces every secret of one job's configuration wherever it appears.
///
/// Which values are secrets comes from the adaptor's configuration declaration
/// ([`Declaration::redactor`](crate::Declaration::redactor)). Longer secrets are
/// replaced first, so a secret containing another is masked whole.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that masks every string in `value` (nested ones too): for
    /// configuration that no declaration describes, such as a credentials file before
    /// its adaptor is known.
    pub fn new(value: &Value) -> Redactor {
        let mut secrets = Vec::new();
        collect(value, &mut secrets);
        Redactor::from_secrets(secrets)
    }

    /// A redactor for these secret values.
    pub fn from_secrets(secrets: Vec<String>) -> Redactor {
        // Very short values ("1", "en") would mask unrelated text and protect nothing.
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 3).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` with every secret masked.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    /// Masks every secret in every string (and object key) of `value`, in place.
    pub fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.value(&mut v);
                    map.insert(self.text(&k), v);
                }
            }
            _ => {}
        }
    }
}

fn collect(value: &Value, secrets: &mut Vec<String>) {
    match value {
        Value::String(s) => secrets.push(s.clone()),
        Value::Object(map) => map.values().for_each(|v| collect(v, secrets)),
        Value::Array(items) => items.iter().for_each(|v| collect(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_every_string_and_longer_secrets_first() {
        let r = Redactor::new(&json!({
            "username": "canary-user",
            "password": "canary-pass",
            "nested": {"clientSecret": "canary-pass-longer"},
            "short": "ab",
        }));
        let text = r.text("canary-user at ab used canary-pass and canary-pass-longer");
        assert_eq!(text, "**** at ab used **** and ****");
        let mut v = json!({"a": ["canary-pass"], "canary-user": 1});
        r.value(&mut v);
        assert_eq!(v, json!({"a": ["****"], "****": 1}));
    }
}
