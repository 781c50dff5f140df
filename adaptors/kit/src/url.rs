//! Building request URLs from a configured base URL and an operation's path.

pub use url::{Url, form_urlencoded};

use crate::error::{self, Error};

/// Parses a configured base URL (`configuration.<field>`), which must be absolute
/// `http` or `https`.
pub fn parse_base(field: &str, value: &str) -> Result<Url, Error> {
    let url = Url::parse(value).map_err(|e| {
        error::configuration(
            field,
            &format!("is not a URL ({e}): expected an absolute http(s) URL such as https://example.org"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(error::configuration(
            field,
            "must be an absolute http:// or https:// URL with a host",
        ));
    }
    Ok(url)
}

/// Joins `base`, an optional `prefix` (such as `api`) and `path`, keeping the base
/// URL's own path: `https://h/openlmis` + `api` + `/facilities` gives
/// `https://h/openlmis/api/facilities`. A query in `path` is kept.
///
/// An absolute URL (`https://...` or `//host/...`) in `path` is refused: operations
/// reach only the configured server, as OpenFn's `assertRelativeUrl` requires.
pub fn join(base: &Url, prefix: &str, path: &str) -> Result<Url, Error> {
    if path.starts_with("//") || Url::parse(path).is_ok() {
        return Err(error::invalid_argument(format!(
            "unexpected absolute URL {path:?}: expected a path relative to the configured base URL, such as \"facilities\""
        )));
    }
    let mut joined = base.clone();
    joined.set_query(None);
    joined.set_fragment(None);
    let (path_only, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut full = base.path().trim_end_matches('/').to_string();
    for part in [prefix, path_only] {
        let part = part.trim_matches('/');
        if !part.is_empty() {
            full.push('/');
            full.push_str(part);
        }
    }
    joined.set_path(&full);
    joined.set_query(query);
    Ok(joined)
}

/// The origin (`scheme://host:port`) of a URL, for messages.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// `base` + `prefix` + one path segment per item of `segments`, each percent-encoded,
/// so an id can never add a path segment or a query of its own.
pub fn join_segments(base: &Url, prefix: &str, segments: &[&str]) -> Result<Url, Error> {
    let mut url = join(base, prefix, "")?;
    url.path_segments_mut()
        .map_err(|()| error::invalid_argument("the base URL cannot take a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Appends a JSON query object to `url` as the JavaScript adaptors send one: keys in
/// order, an array repeats its key (`sort=a,asc&sort=b,desc`), `null` sends the key
/// with an empty value, numbers and booleans as written, and a nested object as JSON.
/// `what` names the option in errors (`options.query`).
pub fn append_query(url: &mut Url, query: &serde_json::Value, what: &str) -> Result<(), Error> {
    use serde_json::Value;
    if query.is_null() {
        return Ok(());
    }
    let Value::Object(map) = query else {
        return Err(error::invalid_argument(format!(
            "{what} must be an object such as {{\"size\": 10}}, got {}",
            crate::config::kind(query)
        )));
    };
    if map.is_empty() {
        return Ok(());
    }
    let scalar = |value: &Value| match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut pairs = url.query_pairs_mut();
    for (key, value) in map {
        match value {
            Value::Array(items) => {
                for item in items {
                    pairs.append_pair(key, &scalar(item));
                }
            }
            other => {
                pairs.append_pair(key, &scalar(other));
            }
        }
    }
    Ok(())
}

/// The URL without a user name or password, as state, logs and errors may show it.
pub fn without_userinfo(url: &Url) -> Url {
    let mut shown = url.clone();
    // Only fails for URLs that cannot have credentials, which then have none.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_arrays_repeat_the_key_and_null_is_empty() {
        let mut url = Url::parse("http://h/api/x").unwrap();
        append_query(
            &mut url,
            &json!({"sort": ["a,asc", "b,desc"], "page": 0, "q": null, "on": true}),
            "q",
        )
        .unwrap();
        assert_eq!(url.query(), Some("sort=a%2Casc&sort=b%2Cdesc&page=0&q=&on=true"));
        assert!(append_query(&mut url, &json!("size=1"), "options.query").is_err());
    }

    #[test]
    fn userinfo_is_removed() {
        let url = Url::parse("http://admin:pw@h:8/p?q=1").unwrap();
        assert_eq!(without_userinfo(&url).as_str(), "http://h:8/p?q=1");
    }
}
