//! Masking configuration values in everything a job shows: logs, errors and output.

use serde_json::Value;

/// What a masked value is replaced with (OpenFn's logger uses the same).
pub const MASK: &str = "****";

/// Configuration keys whose values are addresses, not secrets: masking them would
/// hide which server failed without protecting anything.
const ADDRESS_KEYS: [&str; 5] = ["baseUrl", "domain", "services", "version", "url"];

/// Replaces every secret of one job's configuration wherever it appears.
///
/// Secrets are all the string values of `configuration` (nested ones too) except
/// server addresses (`baseUrl`, `domain`, `services`, `version`, `url`). Longer
/// secrets are replaced first, so a secret containing another is masked whole.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// The redactor for a configuration object.
    pub fn new(configuration: &Value) -> Redactor {
        let mut secrets = Vec::new();
        collect(configuration, &mut secrets);
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
        // Very short values ("1", "en") would mask unrelated text and protect nothing.
        Value::String(s) if s.len() >= 3 => secrets.push(s.clone()),
        Value::Object(map) => {
            for (k, v) in map {
                if !ADDRESS_KEYS.contains(&k.as_str()) {
                    collect(v, secrets);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_every_secret_but_not_addresses() {
        let r = Redactor::new(&json!({
            "baseUrl": "http://127.0.0.1:9",
            "username": "canary-user",
            "password": "canary-pass",
            "nested": {"clientSecret": "canary-secret-longer"},
        }));
        let text = r.text("canary-user at http://127.0.0.1:9 used canary-pass and canary-secret-longer");
        assert_eq!(text, "**** at http://127.0.0.1:9 used **** and ****");
        let mut v = json!({"a": ["canary-pass"], "canary-user": 1});
        r.value(&mut v);
        assert_eq!(v, json!({"a": ["****"], "****": 1}));
    }
}
