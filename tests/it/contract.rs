use axum::http::{HeaderMap, StatusCode, header};
use serde_json::json;

use crate::util::{
    CANARY_SECRET, canary_simulator, cli, count, openlmis, options, probe, run, run_err, run_ok, write_json,
};

/// A server that records every request, for what the simulators do not do.
fn recording(router: axum::Router) -> simulators::Running {
    simulators::Running::start(router)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_call_job_composes_state_as_the_javascript_stack_does() {
    let sim = canary_simulator();
    let state = run_ok(&sim, json!([{"get": ["programs"]}])).await;
    assert_eq!(
        state["references"],
        json!([{}]),
        "the initial data is {{}}, as OpenFn's runtime gives it"
    );
    assert!(state["data"].as_array().is_some_and(|p| !p.is_empty()), "{state}");
    let response = &state["response"];
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["statusMessage"], "OK");
    assert_eq!(response["method"], "GET");
    assert_eq!(response["url"], format!("{}/api/programs", sim.base_url()));
    assert!(
        response["headers"]["content-type"]
            .as_str()
            .is_some_and(|t| t.contains("json")),
        "{response}"
    );
    assert!(response["duration"].is_u64(), "{response}");
    assert!(response.get("body").is_none(), "no body in response");
    assert!(state.get("configuration").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_adds_one_reference_newest_last() {
    let sim = canary_simulator();
    let job = json!([
        {"get": ["programs"]},
        {"each": ["$.data[*]", {"programByCode": ["$.data.code"]}]},
    ]);
    let state = run_ok(&sim, job).await;
    let references = state["references"].as_array().unwrap();
    assert_eq!(references[0], json!({}));
    // As in OpenFn, `each` sets `data` to the item and the operation composes on that,
    // so every item (not the list) lands in `references`, one per operation.
    let items = &references[1..];
    assert!(items.len() >= 2, "{state}");
    assert!(
        items.iter().all(|p| p["code"].is_string() && p["id"].is_string()),
        "{state}"
    );
    assert_eq!(
        state["data"]["code"],
        items.last().unwrap()["code"],
        "the last item's lookup"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_name_the_field_before_any_request() {
    let sim = canary_simulator();
    let cases = [
        (json!({"username": "u"}), "configuration.baseUrl is missing"),
        (json!({"baseUrl": 42}), "configuration.baseUrl is a number"),
        (
            json!({"baseUrl": "ftp://example.org"}),
            "configuration.baseUrl is not an absolute http(s) URL",
        ),
        // The declaration cannot say "these four unless access_token": the adaptor's
        // own configure check does, still before anything is sent.
        (
            json!({"baseUrl": sim.base_url(), "clientSecret": CANARY_SECRET}),
            "configuration.username is missing",
        ),
    ];
    for (configuration, wanted) in cases {
        let outcome = run(
            openlmis(),
            r#"[{"get": ["programs"]}]"#,
            configuration.clone(),
            &options(),
        )
        .await;
        let error = &outcome.state["errors"]["test"];
        assert_eq!(error["type"], "configuration", "{configuration}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(wanted), "{configuration}: {message}");
        assert!(!message.contains(CANARY_SECRET));
    }
    assert!(sim.server().requests().is_empty(), "the simulator saw no request");

    let typed = run(probe(), r#"[{"say": ["hi"]}]"#, json!({"retries": "three"}), &options()).await;
    assert_eq!(typed.state["errors"]["test"]["type"], "configuration");
    assert!(
        typed.state["errors"]["test"]["message"]
            .as_str()
            .unwrap()
            .contains("configuration.retries is a string: expected a number")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_adaptors_declaration_gives_its_policy() {
    let mirror = recording(axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" })));
    let text_field = recording(axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" })));
    // `mirrors` is a url-map in the probe's declaration: each value is an origin.
    let configuration = json!({"mirrors": {"eu": mirror.url()}, "region": text_field.url()});
    let allowed = json!([{"fetch": [format!("{}/ok", mirror.url())]}]).to_string();
    let outcome = run(probe(), &allowed, configuration.clone(), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"]["status"], 200);
    // `region` is declared text: a URL in it is no address.
    let denied = json!([{"fetch": [format!("{}/ok", text_field.url())]}]).to_string();
    let outcome = run(probe(), &denied, configuration, &options()).await;
    assert!(
        matches!(outcome.error, Some(adaptor_host::Error::Denied { .. })),
        "{:?}",
        outcome.error
    );
    assert!(text_field.requests().is_empty());
}

#[test]
fn a_third_adaptors_declaration_gives_its_masking() {
    let dir = tempfile::tempdir().unwrap();
    let key = "probe-canary-key-41d7";
    let undeclared = "probe-canary-undeclared-8e2c";
    let job = write_json(
        dir.path(),
        "job.json",
        &json!([{"say": [format!("key={key} other={undeclared} region=eu-west-9")]}]),
    );
    let creds = write_json(
        dir.path(),
        "creds.json",
        &json!({"apiKey": key, "region": "eu-west-9", "note": undeclared}),
    );
    let out = dir.path().join("out.json");
    let output = cli(
        &[
            "run",
            &job,
            "-a",
            env!("PROBE_WASM"),
            "--credentials",
            &creds,
            "-o",
            out.to_str().unwrap(),
        ],
        &dir.path().join("cache"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("key=**** other=**** region=eu-west-9"), "{stderr}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(!written.contains(key) && !written.contains(undeclared), "{written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_takes_page_size_and_limit_in_its_options() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([{"getAll": ["facilities", {"pageSize": 200, "limit": 450}]}]),
    )
    .await;
    assert_eq!(state["data"].as_array().map(Vec::len), Some(450));
    assert_eq!(state["response"]["pages"], 3);
    let sizes: Vec<String> = sim
        .server()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/facilities")
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(sizes, ["page=0&size=200", "page=1&size=200", "page=2&size=200"]);
    // The positional paging argument still works; the options object wins over it.
    let state = run_ok(
        &sim,
        json!([{"getAll": ["facilities", {"limit": 5}, {"pageSize": 2, "limit": 99}]}]),
    )
    .await;
    assert_eq!(state["data"].as_array().map(Vec::len), Some(5));
    assert_eq!(state["response"]["pages"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_an_error_naming_the_status_and_location() {
    let server = recording(axum::Router::new().route(
        "/api/programs",
        axum::routing::get(|| async {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::LOCATION,
                "https://elsewhere.example.org/api/programs".parse().unwrap(),
            );
            (StatusCode::FOUND, headers, "")
        }),
    ));
    let configuration = json!({"baseUrl": server.url(), "access_token": "t-123"});
    let outcome = run(openlmis(), r#"[{"get": ["programs"]}]"#, configuration, &options()).await;
    let error = &outcome.state["errors"]["test"];
    assert_eq!(error["type"], "http", "{error}");
    assert_eq!(error["details"]["statusCode"], 302);
    assert_eq!(error["details"]["statusMessage"], "Found");
    assert_eq!(
        error["details"]["location"],
        "https://elsewhere.example.org/api/programs"
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("returned 302") && message.contains("https://elsewhere.example.org/api/programs"),
        "{message}"
    );
    assert_eq!(server.requests().len(), 1, "not followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_arrays_repeat_the_key_and_null_is_sent_empty() {
    let server = recording(axum::Router::new().route(
        "/api/orderables",
        axum::routing::get(|| async { axum::Json(json!([])) }),
    ));
    let configuration = json!({"baseUrl": server.url(), "access_token": "t-123"});
    let job =
        json!([{"get": ["orderables", {"query": {"sort": ["code,asc", "name,desc"], "program": null, "size": 10}}]}]);
    let outcome = run(openlmis(), &job.to_string(), configuration, &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let query = server.requests()[0].query.clone().unwrap_or_default();
    assert_eq!(query, "sort=code%2Casc&sort=name%2Cdesc&program=&size=10");
}

#[test]
fn docs_of_a_component_loaded_from_a_path_come_from_the_component() {
    let dir = tempfile::tempdir().unwrap();
    // A copy under another name: nothing in the binary knows it.
    let copy = dir.path().join("third-party.wasm");
    std::fs::copy(env!("PROBE_WASM"), &copy).unwrap();
    let output = cli(&["docs", copy.to_str().unwrap()], &dir.path().join("cache"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("apiKey (text, optional, secret)"), "{text}");
    assert!(text.contains("mirrors (url-map, optional)"), "{text}");
    assert!(
        text.contains("Spins forever: the CPU / time limits must stop it."),
        "{text}"
    );

    let crvs = cli(&["docs", "opencrvs"], &dir.path().join("cache"));
    let text = String::from_utf8_lossy(&crvs.stdout);
    assert!(text.contains("domain (domain, optional)"), "{text}");
    assert!(text.contains("clientSecret (text, optional, secret)"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_failure_carries_the_javascript_names() {
    let sim = canary_simulator();
    let error = run_err(&sim, json!([{"get": ["facilities/not-a-uuid"]}])).await;
    let details = &error["details"];
    assert!(details["statusCode"].as_u64().is_some_and(|s| s >= 400), "{error}");
    assert!(details["statusMessage"].is_string(), "{error}");
    assert!(details.get("body").is_some(), "{error}");
    assert!(
        details.get("status").is_none() && details.get("statusText").is_none(),
        "{error}"
    );
    assert!(details.get("location").is_none(), "{error}");
    assert_eq!(count(&sim, "/api/facilities/not-a-uuid"), 1);
}
