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
