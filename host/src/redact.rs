//! Masking configuration values in everything a job shows: logs, errors and output.
//!
//! A secret rarely comes back as it was written: servers echo it JSON-escaped, Rust
//! prints it `Debug`-escaped, URLs and form bodies carry it percent-encoded, HTTP Basic
//! credentials carry it Base64-encoded after an `id:`. [`Redactor::from_secrets`]
//! derives each of these forms and masks them all in one pass.

use std::sync::Mutex;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// What a masked value is replaced with (OpenFn's logger uses the same).
pub const MASK: &str = "****";

/// Secrets shorter than this are not masked: "1" or "en" would mask unrelated text
/// and protect nothing.
const MIN_SECRET: usize = 3;

/// Base64 runs shorter than this (about five bytes of a secret) are not masked: they
/// would match unrelated Base64 text too often.
const MIN_BASE64: usize = 6;

/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` (also what
/// OpenCRVS webhook signatures are taken over).
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');
/// `application/x-www-form-urlencoded` (before spaces become `+`): everything but
/// `A-Z a-z 0-9 * - . _`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');
/// The WHATWG URL query set.
const QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'\'');
/// The WHATWG URL path set.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');
/// One path segment, as `url`'s `path_segments_mut` encodes it.
const SEGMENT: &AsciiSet = &PATH.add(b'/').add(b'%');
/// The WHATWG URL user-info set.
const USERINFO: &AsciiSet = &SEGMENT
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');

/// How many secret sets' automata [`Redactor::from_secrets`] keeps (the sets are held
/// in memory like the configurations of running jobs).
const RECENT_SETS: usize = 16;

/// The automata of recent secret sets (each set sorted), newest first.
static RECENT: Mutex<Vec<(Vec<String>, AhoCorasick)>> = Mutex::new(Vec::new());

/// Replaces every secret of one job's configuration, in any of its derived forms,
/// wherever it appears.
///
/// Which values are secrets comes from the adaptor's configuration declaration
/// ([`Declaration::redactor`](crate::Declaration::redactor)). Matching is leftmost-
/// longest, so a secret containing another is masked whole.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Every form of every secret; `None` when there is nothing to mask.
    forms: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor that masks every string in `value` (nested ones too): for
    /// configuration that no declaration describes, such as a credentials file before
    /// its adaptor is known.
    pub fn new(value: &Value) -> Redactor {
        let mut secrets = Vec::new();
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(s) => secrets.push(s.clone()),
                Value::Object(map) => stack.extend(map.values()),
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        Redactor::from_secrets(secrets)
    }

    /// A redactor for these secret values and their derived forms: JSON-escaped (as
    /// written, and with non-ASCII as `\u00e9` or `\u00E9`, and `/` as `\/`), Rust
    /// `Debug`-escaped, percent-encoded (`encodeURIComponent`, form bodies with `+`,
    /// URL paths (also with `\` read as `/`), segments, queries and user-info; either
    /// hex case), and Base64 (the
    /// run of Base64 text that encodes the secret at each of the three alignments, so
    /// `Basic base64(anyone:secret)` is masked whoever `anyone` is).
    ///
    /// The automata of the last [`RECENT_SETS`] secret sets are kept for reuse: a host
    /// running many jobs with the same credentials (serve, a worker, a batch) builds
    /// each once, where building it was half of a small job's host time.
    pub fn from_secrets(mut secrets: Vec<String>) -> Redactor {
        secrets.retain(|s| s.len() >= MIN_SECRET);
        if secrets.is_empty() {
            return Redactor::default();
        }
        secrets.sort();
        secrets.dedup();
        let recent = || RECENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        {
            let mut recent = recent();
            if let Some(i) = recent.iter().position(|(set, _)| *set == secrets) {
                let entry = recent.remove(i);
                let forms = entry.1.clone();
                recent.insert(0, entry);
                return Redactor { forms: Some(forms) };
            }
        }
        let mut forms = Vec::new();
        for secret in &secrets {
            derive_forms(secret, &mut forms);
        }
        forms.sort();
        forms.dedup();
        let forms = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            // A DFA (what the builder picks for few patterns) took half of a small
            // job's host time to build; the contiguous NFA builds in a fraction of
            // that and still searches behind a prefilter.
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&forms)
            .expect("secret forms are plain strings");
        let mut recent = recent();
        recent.insert(0, (secrets, forms.clone()));
        recent.truncate(RECENT_SETS);
        Redactor { forms: Some(forms) }
    }

    /// `text` with every secret masked.
    pub fn text(&self, text: &str) -> String {
        match &self.forms {
            Some(forms) if forms.is_match(text) => {
                let mut out = String::with_capacity(text.len());
                forms.replace_all_with(text, &mut out, |_, _, out| {
                    out.push_str(MASK);
                    true
                });
                out
            }
            _ => text.to_string(),
        }
    }

    /// Masks every secret in every string (and object key) of `value`, in place,
    /// without recursion (the value may nest as deep as its producer made it).
    pub fn value(&self, value: &mut Value) {
        let Some(forms) = &self.forms else { return };
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(s) if forms.is_match(s.as_str()) => *s = self.text(s),
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    self.keys(map);
                    stack.extend(map.values_mut());
                }
                _ => {}
            }
        }
    }

    /// Masks every secret in the keys of `map` (not in its values), keeping the order.
    pub(crate) fn keys(&self, map: &mut Map<String, Value>) {
        let Some(forms) = &self.forms else { return };
        if map.keys().any(|k| forms.is_match(k.as_str())) {
            let entries = std::mem::take(map);
            map.extend(entries.into_iter().map(|(k, v)| (self.text(&k), v)));
        }
    }

    /// Whether the value parsed from the JSON text `json` may hold a secret in a string
    /// or key, so that [`Redactor::value`] could change it. `false` only when the text
    /// has no escape (`\`), so every string and key of the value is a slice of the text
    /// as it stands, and no form of a secret occurs anywhere in the text: then none
    /// occurs in any string or key either. One search of the whole text is much faster
    /// than one per string.
    pub fn may_hold_secret(&self, json: &str) -> bool {
        match &self.forms {
            Some(forms) => json.as_bytes().contains(&b'\\') || forms.is_match(json),
            None => false,
        }
    }
}

/// Pushes every form in which `secret` may come back.
fn derive_forms(secret: &str, forms: &mut Vec<String>) {
    forms.push(secret.to_string());
    let json = json_escaped(secret);
    forms.push(debug_escaped(&json));
    forms.push(json_escaped(&json));
    for upper in [false, true] {
        let ascii = json_ascii(secret, upper);
        forms.push(ascii.replace('/', "\\/"));
        forms.push(ascii);
    }
    forms.push(json.replace('/', "\\/"));
    forms.push(json);
    forms.push(debug_escaped(secret));
    // A URL parser reads `\` in an http(s) path as `/` before encoding the rest.
    let slashed = secret.replace('\\', "/");
    for (text, set) in [
        (secret, COMPONENT),
        (secret, FORM),
        (secret, QUERY),
        (secret, PATH),
        (slashed.as_str(), PATH),
        (secret, SEGMENT),
        (secret, USERINFO),
    ] {
        let encoded = utf8_percent_encode(text, set).to_string();
        if std::ptr::eq(set, FORM) {
            forms.push(encoded.replace("%20", "+"));
        }
        forms.push(lower_hex(&encoded));
        forms.push(encoded);
    }
    for engine in [STANDARD, URL_SAFE] {
        for offset in 0..3 {
            let run = base64_run(&engine, secret.as_bytes(), offset);
            if run.len() >= MIN_BASE64 {
                forms.push(run);
            }
        }
    }
}

/// The Base64 characters that depend only on `secret` when it starts `offset` bytes
/// (mod 3) into the encoded text, whatever comes before or after it.
fn base64_run(engine: &impl base64::Engine, secret: &[u8], offset: usize) -> String {
    let mut bytes = vec![0; offset];
    bytes.extend_from_slice(secret);
    let encoded = engine.encode(&bytes);
    // Characters are 6 bits: skip those that hold a bit of the unknown prefix, stop
    // before the first that holds a bit of the unknown suffix (or padding).
    let start = (8 * offset).div_ceil(6);
    let end = (8 * bytes.len()) / 6;
    encoded.get(start..end).unwrap_or_default().to_string()
}

/// The secret as it appears inside a JSON string (quotes removed).
fn json_escaped(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("strings serialize");
    quoted[1..quoted.len() - 1].to_string()
}

/// [`json_escaped`], with every non-ASCII character as `\uXXXX` (UTF-16, as Python's
/// and Java's encoders write it) in lower or upper case hex.
fn json_ascii(s: &str, upper: bool) -> String {
    let mut out = String::new();
    for c in json_escaped(s).chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&if upper {
                    format!("\\u{unit:04X}")
                } else {
                    format!("\\u{unit:04x}")
                });
            }
        }
    }
    out
}

/// The secret as Rust's `{:?}` prints it inside a string (quotes removed).
fn debug_escaped(s: &str) -> String {
    let quoted = format!("{s:?}");
    quoted[1..quoted.len() - 1].to_string()
}

/// Percent-encoded text with lower-case hex digits.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[i + escape.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn a_reused_automaton_masks_its_own_secret_set_only() {
        let text = "alpha-secret beta-secret";
        let alpha = || Redactor::from_secrets(vec!["alpha-secret".into()]);
        assert_eq!(alpha().text(text), "**** beta-secret");
        let both = Redactor::from_secrets(vec!["beta-secret".into(), "alpha-secret".into()]);
        assert_eq!(both.text(text), "**** ****");
        // Reused (the same set, in another order, with a too short secret added).
        let again = Redactor::from_secrets(vec!["alpha-secret".into(), "ab".into(), "beta-secret".into()]);
        assert_eq!(again.text(text), "**** ****");
        assert_eq!(alpha().text(text), "**** beta-secret");
        assert_eq!(Redactor::from_secrets(Vec::new()).text(text), text);
    }

    #[test]
    fn json_text_may_hold_a_secret_when_a_form_or_an_escape_occurs() {
        let r = Redactor::from_secrets(vec!["canary-pass".into()]);
        assert!(!r.may_hold_secret(r#"{"a": ["canary", "pass"], "canary-": 1}"#));
        assert!(r.may_hold_secret(r#"{"a": "x canary-pass y"}"#));
        assert!(r.may_hold_secret(r#"{"canary-pass": 1}"#));
        // Escapes decode to text the search of the raw text would not see.
        assert!(r.may_hold_secret(r#"{"a": "canary\u002dpass"}"#));
        assert!(r.may_hold_secret(r#"{"a": "\n"}"#));
        assert!(!Redactor::default().may_hold_secret(r#""canary-pass""#));
    }

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

    /// A secret with every character that escaping or encoding changes.
    const AWKWARD: &str = "p \"q\\r%s+t&u/vé☃𝄞'x";

    #[test]
    fn masks_escaped_and_encoded_forms() {
        let r = Redactor::from_secrets(vec![AWKWARD.into()]);
        let mut forms = vec![
            serde_json::to_string(AWKWARD).unwrap(),
            serde_json::to_string(&serde_json::to_string(AWKWARD).unwrap()).unwrap(),
            format!("{AWKWARD:?}"),
            format!("{:?}", json!({"p": AWKWARD}).to_string()),
            r#"p \"q\\r%s+t&u\/v\u00e9\u2603\ud834\udd1e'x"#.into(),
            r#"p \"q\\r%s+t&u/v\u00E9\u2603\uD834\uDD1E'x"#.into(),
        ];
        for set in [COMPONENT, FORM, QUERY, PATH, SEGMENT, USERINFO] {
            forms.push(utf8_percent_encode(AWKWARD, set).to_string());
            forms.push(lower_hex(&utf8_percent_encode(AWKWARD, set).to_string()));
        }
        forms.push(utf8_percent_encode(AWKWARD, FORM).to_string().replace("%20", "+"));
        for form in &forms {
            let text = format!("before {form} after");
            let masked = r.text(&text);
            assert_eq!(masked.matches(MASK).count(), 1, "{form} -> {masked}");
            assert!(masked.starts_with("before ") && masked.ends_with(" after"), "{masked}");
        }
    }

    #[test]
    fn masks_base64_of_a_secret_after_any_prefix() {
        let r = Redactor::from_secrets(vec!["canary-secret-5e6f".into()]);
        for user in ["", "a", "ab", "abc", "canary-client-2b8d", "ü"] {
            let basic = STANDARD.encode(format!("{user}:canary-secret-5e6f"));
            let masked = r.text(&format!("Basic {basic}"));
            assert!(masked.contains(MASK) && !masked.contains(&basic), "{user}: {masked}");
        }
        // Both halves of client credentials, each secret on its own.
        let r = Redactor::from_secrets(vec!["canary-client-2b8d".into(), "canary-secret-5e6f".into()]);
        let basic = STANDARD.encode("canary-client-2b8d:canary-secret-5e6f");
        assert_eq!(r.text(&basic).matches(MASK).count(), 2, "{}", r.text(&basic));
    }

    #[test]
    fn masks_deep_values_without_recursion() {
        let r = Redactor::from_secrets(vec!["canary".into()]);
        let mut deep = json!("canary");
        for _ in 0..50_000 {
            // Not json!: it would serialize `deep`, recursively.
            deep = Value::Object(serde_json::Map::from_iter([("canary".to_string(), deep)]));
        }
        r.value(&mut deep);
        let mut node = &deep;
        let mut levels = 0;
        while let Some(inner) = node.get(MASK) {
            node = inner;
            levels += 1;
        }
        assert_eq!((levels, node), (50_000, &json!(MASK)));
        // Take it apart level by level: dropping it whole would recurse.
        while let Value::Object(mut map) = deep {
            deep = map.remove(MASK).unwrap_or_default();
        }
    }
}
