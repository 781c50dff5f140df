//! An adaptor's configuration declaration (`openfn:adaptor/configuration.schema`) and
//! what the host derives from it: the check before a job runs, the network policy and
//! the masking. Nothing here knows any adaptor's name or keys: a new adaptor brings its
//! own declaration.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::redact::Redactor;
use crate::sandbox::policy::{AllowRule, Policy, default_port};
use crate::values::json_kind;

/// What a configuration field holds (the WIT `field-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Text that is not an address.
    Text,
    /// An absolute `http(s)` URL of a server: its origin is allowed.
    Url,
    /// An object whose values are such URLs: each origin is allowed.
    UrlMap,
    /// A domain whose `https` subdomains are allowed.
    Domain,
    /// A JSON number.
    Number,
    /// A JSON boolean.
    Boolean,
    /// A JSON object.
    Object,
}

impl FieldKind {
    /// The WIT case name, for docs and messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Url => "url",
            FieldKind::UrlMap => "url-map",
            FieldKind::Domain => "domain",
            FieldKind::Number => "number",
            FieldKind::Boolean => "boolean",
            FieldKind::Object => "object",
        }
    }

    /// The kind of a WIT case name.
    pub fn from_name(name: &str) -> Option<FieldKind> {
        Some(match name {
            "text" => FieldKind::Text,
            "url" => FieldKind::Url,
            "url-map" => FieldKind::UrlMap,
            "domain" => FieldKind::Domain,
            "number" => FieldKind::Number,
            "boolean" => FieldKind::Boolean,
            "object" => FieldKind::Object,
            _ => return None,
        })
    }

    /// What a value of this kind looks like, for errors.
    fn expected(self) -> &'static str {
        match self {
            FieldKind::Text => "a string",
            FieldKind::Url => "an absolute http(s) URL such as https://example.org",
            FieldKind::UrlMap => "an object of absolute http(s) URLs such as {\"api\": \"https://example.org\"}",
            FieldKind::Domain => "a domain name without scheme or path, such as example.org",
            FieldKind::Number => "a number",
            FieldKind::Boolean => "true or false",
            FieldKind::Object => "an object",
        }
    }
}

/// One declared field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The key in the configuration object.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// Its kind.
    pub kind: FieldKind,
    /// Whether a job without it is refused.
    pub required: bool,
    /// Whether it is a credential.
    pub secret: bool,
}

/// An adaptor's configuration declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declaration {
    /// The fields, in the adaptor's order.
    pub fields: Vec<Field>,
}

impl Declaration {
    /// The declared field `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks `configuration` against the declaration before anything runs: it must be
    /// an object, required fields present and not empty, and each declared field of
    /// its kind. The error names the field and what was expected; it never shows a
    /// value.
    pub fn check(&self, configuration: &Value) -> Result<()> {
        let problem = |field: &str, problem: String| Error::Configuration(format!("configuration.{field} {problem}"));
        let map = match configuration {
            Value::Object(map) => map,
            Value::Null => &serde_json::Map::new(),
            other => {
                return Err(Error::Configuration(format!(
                    "the configuration must be an object, got {}",
                    json_kind(other)
                )));
            }
        };
        for field in &self.fields {
            let value = map.get(&field.name);
            let absent = matches!(value, None | Some(Value::Null)) || value.and_then(Value::as_str) == Some("");
            if absent {
                if field.required {
                    return Err(problem(
                        &field.name,
                        format!("is missing: expected {} ({})", field.kind.expected(), field.description),
                    ));
                }
                continue;
            }
            let value = value.expect("present");
            if let Err(why) = check_kind(field.kind, value) {
                return Err(problem(
                    &field.name,
                    format!("{why}: expected {}", field.kind.expected()),
                ));
            }
        }
        Ok(())
    }

    /// The origins a job with `configuration` may reach: those its address fields name
    /// (`url`, each value of a `url-map`, `https://*.<domain>` for a `domain`), plus
    /// `extra` (`--allow-host`).
    pub fn policy(&self, configuration: &Value, extra: &[AllowRule]) -> Policy {
        let mut rules = extra.to_vec();
        for field in &self.fields {
            let Some(value) = configuration.get(&field.name) else {
                continue;
            };
            match (field.kind, value) {
                (FieldKind::Url, Value::String(url)) => rules.extend(origin(url)),
                (FieldKind::UrlMap, Value::Object(urls)) => {
                    rules.extend(urls.values().filter_map(Value::as_str).filter_map(origin));
                }
                (FieldKind::Domain, Value::String(domain)) => {
                    if let Ok(AllowRule::Origin { host, .. }) = domain.parse::<AllowRule>() {
                        rules.push(AllowRule::Subdomains {
                            scheme: "https".into(),
                            domain: host,
                            port: 443,
                        });
                    }
                }
                _ => {}
            }
        }
        Policy::new(rules).with_operator_rules(extra)
    }

    /// The masking for a job with `configuration`: every value of a secret field and of
    /// every field the declaration does not name is masked; declared non-secret fields
    /// (addresses, user names, versions) are shown, except a password in a URL's
    /// user-info, which is always masked.
    pub fn redactor(&self, configuration: &Value) -> Redactor {
        let mut secrets = Vec::new();
        if let Value::Object(map) = configuration {
            for (key, value) in map {
                match self.field(key) {
                    Some(field) if !field.secret => collect_userinfo(value, &mut secrets),
                    _ => collect_strings(value, &mut secrets),
                }
            }
        }
        Redactor::from_secrets(secrets)
    }
}

/// Whether `value` has the shape of `kind`.
fn check_kind(kind: FieldKind, value: &Value) -> std::result::Result<(), String> {
    let got = || format!("is {}", json_kind(value));
    match kind {
        FieldKind::Text => value.is_string().then_some(()).ok_or_else(got),
        FieldKind::Number => value.is_number().then_some(()).ok_or_else(got),
        FieldKind::Boolean => value.is_boolean().then_some(()).ok_or_else(got),
        FieldKind::Object => value.is_object().then_some(()).ok_or_else(got),
        FieldKind::Url => check_url(value.as_str().ok_or_else(got)?),
        FieldKind::UrlMap => {
            let urls = value.as_object().ok_or_else(got)?;
            for (name, url) in urls {
                let text = url
                    .as_str()
                    .ok_or_else(|| format!("has {name}, which is {}", json_kind(url)))?;
                check_url(text).map_err(|why| format!("has {name}, which {why}"))?;
            }
            Ok(())
        }
        FieldKind::Domain => {
            let domain = value.as_str().ok_or_else(got)?;
            if domain.contains("://") || domain.contains(['/', '?', '#', '@', ' ']) {
                return Err("is not a bare domain name".into());
            }
            Ok(())
        }
    }
}

fn check_url(text: &str) -> std::result::Result<(), String> {
    match text.parse::<http::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty()) => {
            Ok(())
        }
        _ => Err("is not an absolute http(s) URL".into()),
    }
}

/// The origin rule of an absolute `http(s)` URL (user-info ignored).
fn origin(url: &str) -> Option<AllowRule> {
    let uri = url.parse::<http::Uri>().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?;
    let port = uri.port_u16().or_else(|| default_port(&scheme))?;
    Some(AllowRule::Origin {
        scheme,
        host: host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase(),
        port,
    })
}

fn collect_strings(value: &Value, secrets: &mut Vec<String>) {
    match value {
        Value::String(s) => secrets.push(s.clone()),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, secrets)),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, secrets)),
        _ => {}
    }
}

/// The user name and password in the user-info of any URL in `value`.
fn collect_userinfo(value: &Value, secrets: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some((_, rest)) = s.split_once("://")
                && let Some((userinfo, _)) = rest.split('/').next().unwrap_or_default().rsplit_once('@')
            {
                match userinfo.split_once(':') {
                    Some((user, password)) => secrets.extend([user.to_string(), password.to_string()]),
                    None => secrets.push(userinfo.to_string()),
                }
            }
        }
        Value::Object(map) => map.values().for_each(|v| collect_userinfo(v, secrets)),
        Value::Array(items) => items.iter().for_each(|v| collect_userinfo(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str, kind: FieldKind, required: bool, secret: bool) -> Field {
        Field {
            name: name.into(),
            description: format!("the {name}"),
            kind,
            required,
            secret,
        }
    }

    fn declaration() -> Declaration {
        Declaration {
            fields: vec![
                field("endpoint", FieldKind::Url, true, false),
                field("mirrors", FieldKind::UrlMap, false, false),
                field("zone", FieldKind::Domain, false, false),
                field("region", FieldKind::Text, false, false),
                field("apiKey", FieldKind::Text, true, true),
                field("retries", FieldKind::Number, false, false),
            ],
        }
    }

    #[test]
    fn check_names_the_missing_or_mistyped_field() {
        let d = declaration();
        let ok = json!({"endpoint": "http://127.0.0.1:9", "apiKey": "k-123", "extra": 1});
        assert!(d.check(&ok).is_ok());
        let cases = [
            (json!({"apiKey": "k"}), "configuration.endpoint is missing"),
            (
                json!({"endpoint": "", "apiKey": "k"}),
                "configuration.endpoint is missing",
            ),
            (
                json!({"endpoint": "ftp://x", "apiKey": "k"}),
                "configuration.endpoint is not an absolute",
            ),
            (
                json!({"endpoint": 7, "apiKey": "k"}),
                "configuration.endpoint is a number",
            ),
            (
                json!({"endpoint": "http://a", "apiKey": "k", "retries": "3"}),
                "configuration.retries is a string",
            ),
            (
                json!({"endpoint": "http://a", "apiKey": "k", "mirrors": {"b": "nope"}}),
                "configuration.mirrors has b",
            ),
            (
                json!({"endpoint": "http://a", "apiKey": "k", "zone": "https://x.org"}),
                "configuration.zone is not a bare domain",
            ),
            (json!("text"), "the configuration must be an object"),
        ];
        for (config, wanted) in cases {
            let message = d.check(&config).unwrap_err().to_string();
            assert!(message.contains(wanted), "{config}: {message}");
            assert!(!message.contains("nope") && !message.contains("k-123"), "{message}");
        }
    }

    #[test]
    fn policy_comes_from_address_fields_only() {
        let d = declaration();
        let config = json!({
            "endpoint": "http://127.0.0.1:4000/base",
            "mirrors": {"a": "https://a.example.org", "b": "http://[::1]:81"},
            "zone": "crvs.example.org",
            "region": "https://not-an-address.example.org",
            "apiKey": "https://secret.example.org",
        });
        let p = d.policy(&config, &[]);
        assert!(p.allows("http", "127.0.0.1", 4000));
        assert!(p.allows("https", "a.example.org", 443));
        assert!(p.allows("http", "::1", 81));
        assert!(p.allows("https", "gateway.crvs.example.org", 443));
        assert!(
            !p.allows("https", "not-an-address.example.org", 443),
            "text fields name no origin"
        );
        assert!(!p.allows("https", "secret.example.org", 443), "secrets name no origin");
        assert!(!p.allows("http", "127.0.0.1", 4001));
    }

    #[test]
    fn masks_secrets_undeclared_fields_and_userinfo() {
        let d = declaration();
        let config = json!({
            "endpoint": "http://admin:pw-in-url@127.0.0.1:9",
            "region": "eu-west",
            "apiKey": "canary-key",
            "undeclared": {"nested": "canary-nested"},
        });
        let r = d.redactor(&config);
        let shown = r.text("eu-west http://admin:pw-in-url@127.0.0.1:9 canary-key canary-nested");
        assert_eq!(shown, "eu-west http://****:****@127.0.0.1:9 **** ****");
    }
}
