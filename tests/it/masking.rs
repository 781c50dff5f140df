//! Secrets with every character that escaping or encoding changes (quotes,
//! backslashes, spaces, `%`, `+`, `&`, `/`, non-ASCII) stay masked in every form in
//! which they come back: JSON-escaped in a `log` line, `Debug`-escaped in an argument
//! error, percent-encoded and Base64-encoded in a server's echo of the login request,
//! percent-encoded in a URL path. Run through the binary; stdout, stderr and the
//! output state are searched for every form.

use std::process::Output;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::util::cli_openlmis;

const USERNAME: &str = "canary user+7f3a";
const PASSWORD: &str = r#"canary "pass\ 9c1e%41+&/é"#;
const CLIENT_ID: &str = "canary client/2b8d+é&x";
const CLIENT_SECRET: &str = r#"canary-sécret "5e6f" 50%+&/\x"#;
/// A part of each secret no other text has: finding one anywhere is a leak in a form
/// the other checks do not know.
const MARKERS: [&str; 3] = ["9c1e", "2b8d", "5e6f"];

/// `application/x-www-form-urlencoded`, as the kit writes the login body.
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// Every form of the secrets that must not appear.
fn forbidden() -> Vec<String> {
    let mut forms = Vec::new();
    for secret in [PASSWORD, CLIENT_ID, CLIENT_SECRET] {
        let json = serde_json::to_string(secret).unwrap();
        let debug = format!("{secret:?}");
        forms.extend([
            secret.to_string(),
            json[1..json.len() - 1].to_string(),
            debug[1..debug.len() - 1].to_string(),
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
            utf8_percent_encode(secret, FORM).to_string().replace("%20", "+"),
        ]);
    }
    for (id, secret) in [(USERNAME, PASSWORD), (CLIENT_ID, CLIENT_SECRET)] {
        forms.push(STANDARD.encode(format!("{id}:{secret}")));
    }
    forms.extend(MARKERS.map(String::from));
    forms
}

fn configuration(base_url: &str) -> Value {
    json!({
        "baseUrl": base_url,
        "username": USERNAME,
        "password": PASSWORD,
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    })
}

/// Runs `job` with the OpenLMIS adaptor at `base_url` with logs at `level`; returns
/// the process output and the output state after checking that no form of a secret
/// appears in stdout, stderr or the output.
fn run_at(level: &str, job: &Value, base_url: &str) -> (Output, Value) {
    let (output, written) = cli_openlmis(job, &configuration(base_url), &["--log", level]);
    for (what, text) in [
        ("stdout", String::from_utf8_lossy(&output.stdout).into_owned()),
        ("stderr", String::from_utf8_lossy(&output.stderr).into_owned()),
        ("output state", written.clone()),
    ] {
        for form in forbidden() {
            assert!(!text.contains(&form), "{what} shows {form:?}:\n{text}");
        }
    }
    (output, serde_json::from_str(&written).unwrap())
}

/// [`run_at`] with debug logs: even the most talkative logs must not leak.
fn run(job: &Value, base_url: &str) -> (Output, Value) {
    run_at("debug", job, base_url)
}

/// A server that answers a login with an error echoing the request (form body and
/// `authorization` header) when `echo_login`, or with a token; and answers every
/// other request with a 404 echoing the path as it arrived.
fn echo_server(echo_login: bool) -> simulators::Running {
    let login = move |headers: HeaderMap, body: String| async move {
        if !echo_login {
            return (
                StatusCode::OK,
                axum::Json(json!({"access_token": "t0k3n", "expires_in": 3600})),
            );
        }
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let message = format!("bad login: body={body} authorization={auth}");
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "message": message})),
        )
    };
    let not_found = |uri: Uri| async move {
        let message = format!("nothing at {uri}");
        (StatusCode::NOT_FOUND, axum::Json(json!({"message": message}))).into_response()
    };
    simulators::Running::start(Router::new().route("/api/oauth/token", post(login)).fallback(not_found))
}

fn error(state: &Value) -> &Value {
    &state["errors"]["job"]
}

#[test]
fn log_of_the_configuration_masks_json_escaped_secrets() {
    let (output, state) = run(&json!([{"log": ["$.configuration"]}]), "http://127.0.0.1:9");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(state.get("errors").is_none(), "{state}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#""password":"****""#),
        "the line was written, masked: {stderr}"
    );
}

#[test]
fn argument_error_quoting_a_secret_masks_its_debug_form() {
    let (output, state) = run(
        &json!([{"request": ["$.configuration.clientSecret", "programs"]}]),
        "http://127.0.0.1:9",
    );
    assert_eq!(output.status.code(), Some(1));
    let message = error(&state)["message"].as_str().unwrap();
    assert!(
        message.contains("argument method") && message.contains("\"****\" is not one of"),
        "{message}"
    );
}

#[test]
fn server_echo_of_the_login_masks_percent_encoded_and_basic_credentials() {
    let server = echo_server(true);
    let (output, state) = run(&json!([{"get": ["programs"]}]), &server.url());
    assert_eq!(output.status.code(), Some(1));
    let echoed = error(&state)["details"]["exchange"]["body"]["message"]
        .as_str()
        .unwrap();
    assert!(
        echoed.starts_with("bad login: body=grant_type=password&username=canary+user%2B7f3a&password=****"),
        "{echoed}"
    );
    assert!(echoed.contains("authorization=Basic "), "{echoed}");
    assert!(server.requests().iter().any(|r| r.path == "/api/oauth/token"));
}

#[test]
fn secret_in_a_path_is_masked_in_the_404_message() {
    let server = echo_server(false);
    let (output, state) = run_at("info", &json!([{"get": ["$.configuration.password"]}]), &server.url());
    assert_eq!(output.status.code(), Some(1));
    let error = error(&state);
    assert_eq!(error["details"]["statusCode"], 404);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("returned 404") && message.contains("****"),
        "{message}"
    );
    // The request really carried the secret in its path.
    assert!(
        server.requests().iter().any(|r| r.path.contains("9c1e")),
        "{:?}",
        server.requests()
    );
}

#[test]
fn secret_in_a_path_is_masked_in_the_debug_line_of_the_request() {
    let server = echo_server(false);
    let (output, _) = run(&json!([{"get": ["$.configuration.password"]}]), &server.url());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("request") && l.contains("\"/api/****\"")),
        "{stderr}"
    );
}
