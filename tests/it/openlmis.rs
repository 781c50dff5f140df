use adaptor_host::Limits;
use serde_json::json;

use crate::util::{canary_configuration, canary_simulator, count, openlmis, options, run, run_err, run_ok, with};

const FP: &str = "dce17f2e-af3e-40ad-8e00-3496adef44c3";
const HC02: &str = "176c4276-1fb1-4507-8ad2-cdfba0f47445";
const JAN_2017: &str = "516ac930-0d28-49f5-a178-64764e22b236";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_url_path_prefix_is_kept() {
    let sim = canary_simulator();
    // A gateway that serves OpenLMIS under /openlmis is simulated by pointing the base
    // URL at a prefix the simulator does not know: the request must carry it.
    let configuration = canary_configuration(&format!("{}/openlmis/", sim.base_url()));
    let outcome = run(openlmis(), r#"[{"get": ["programs"]}]"#, configuration, &options()).await;
    let paths: Vec<_> = sim.server().requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/openlmis/api/oauth/token"]);
    assert!(outcome.error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_in_configuration_skips_login() {
    let sim = canary_simulator();
    // Log in once to obtain a token, then run a job that is given only the token.
    let first = run(
        openlmis(),
        r#"[{"get": ["programs"]}]"#,
        canary_configuration(&sim.base_url()),
        &options(),
    )
    .await;
    assert!(first.error.is_none());
    let token = sim.server().requests()[1]
        .header("authorization")
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    let before = sim.server().requests().len();
    let outcome = run(
        openlmis(),
        r#"[{"get": ["facilities", {"query": {"code": "HC02"}}]}]"#,
        json!({"baseUrl": sim.base_url(), "access_token": token}),
        &options(),
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"]["content"][0]["name"], "Nandumbo Health Center");
    let after: Vec<_> = sim.server().requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(after, ["/api/facilities"], "no login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_without_size_is_rejected_as_the_server_does() {
    let sim = canary_simulator();
    let job = r#"[{"get": ["facilities", {"query": {"page": 1}}]}]"#;
    let outcome = run(openlmis(), job, canary_configuration(&sim.base_url()), &options()).await;
    let error = &outcome.state["errors"]["test"];
    assert_eq!(error["details"]["statusCode"], 400);
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "referenceData.error.pageable.size.null"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_option_accepts_a_status_as_data() {
    let sim = canary_simulator();
    let job = r#"[{"get": ["facilities/nope", {"errors": {"404": false}}]}]"#;
    let outcome = run(openlmis(), job, canary_configuration(&sim.base_url()), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["response"]["statusCode"], 404);
    assert_eq!(
        outcome.state["data"]["messageKey"],
        "referenceData.error.facility.notFound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_takes_the_method_in_any_case() {
    let sim = canary_simulator();
    let job =
        r#"[{"request": ["GET", "programs"]}, {"request": ["get", "programs", null, {"query": {"code": "PRG004"}}]}]"#;
    let outcome = run(openlmis(), job, canary_configuration(&sim.base_url()), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"][0]["name"], "EPI");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_mid_job_is_renewed_and_the_request_retried_once() {
    let sim = canary_simulator();
    sim.revoke_all_tokens_after(1);
    let job = r#"[{"get": ["programs"]}, {"get": ["facilities", {"query": {"code": "HC03"}}]}]"#;
    let outcome = run(openlmis(), job, canary_configuration(&sim.base_url()), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"]["content"][0]["code"], "HC03");
    let paths: Vec<_> = sim.server().requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/api/oauth/token",
            "/api/programs",
            "/api/facilities",
            "/api/oauth/token",
            "/api/facilities"
        ]
    );
}

// ---- paging -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_walks_more_than_25_pages_to_the_full_data_set() {
    let sim = canary_simulator();
    let state = run_ok(&sim, json!([{"getAll": ["facilities", null, {"pageSize": 100}]}])).await;
    let items = state["data"].as_array().unwrap();
    assert_eq!(items.len(), simulators::openlmis::DEMO_FACILITY_COUNT);
    let ids: std::collections::HashSet<_> = items.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), items.len(), "no duplicates");
    assert_eq!(items[0]["code"], "HC01");
    assert_eq!(state["response"]["pages"], 28);
    assert_eq!(count(&sim, "/api/facilities"), 28);
}

/// A loopback server of `/api/things` answering `pages[1]` to a request for page 1 and
/// `pages[0]` to any other: pages stranger than the simulator's own.
fn two_pages_of_things(pages: [&'static str; 2]) -> simulators::Running {
    simulators::Running::start(axum::Router::new().route(
        "/api/things",
        axum::routing::get(move |query: axum::extract::RawQuery| async move {
            let page = usize::from(query.0.is_some_and(|q| q.contains("page=1")));
            ([("content-type", "application/json")], pages[page])
        }),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_finds_ids_written_late_or_with_escapes() {
    // Two pages where the second repeats the first's last item; the ids are not the
    // first member, or are written with escapes, or are not strings at all.
    let pages = [
        r#"{"content": [{"code": "a", "id": "x\"1"}, { "id" : "2", "code": "b"}], "last": false, "totalPages": 2}"#,
        r#"{"content": [{ "id" : "2", "code": "b"}, {"id": "\u0033"}, {"id": 4}, {"id": 4}], "last": true, "totalPages": 2}"#,
    ];
    let server = two_pages_of_things(pages);
    let configuration = json!({"baseUrl": server.url(), "access_token": "t"});
    let outcome = run(openlmis(), r#"[{"getAll": ["things"]}]"#, configuration, &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(
        outcome.state["data"],
        json!([{"code": "a", "id": "x\"1"}, {"id": "2", "code": "b"}, {"id": "3"}, {"id": 4}, {"id": 4}]),
        "the repeated string id is kept once; items without a string id are all kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_does_without_the_room_an_overstated_total_asks_for() {
    // The first page states ten million items: `getAll` asks for room for them ahead
    // (16 MiB at most), more than the job may have. Refused, it reads the two pages
    // there are within its 8 MiB.
    let pages = [
        r#"{"content": [{"id": "1"}, {"id": "2"}], "last": false, "totalPages": 5000000, "totalElements": 10000000}"#,
        r#"{"content": [{"id": "3"}], "last": true, "totalPages": 5000000, "totalElements": 10000000}"#,
    ];
    let server = two_pages_of_things(pages);
    let configuration = json!({"baseUrl": server.url(), "access_token": "t"});
    let limits = Limits {
        memory_bytes: 8 << 20,
        ..Limits::default()
    };
    let outcome = run(openlmis(), r#"[{"getAll": ["things"]}]"#, configuration, &with(limits)).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"], json!([{"id": "1"}, {"id": "2"}, {"id": "3"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_stops_at_the_limit() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([{"getAll": ["orderables", {"query": {"name": "product"}}, {"pageSize": 40, "limit": 90}]}]),
    )
    .await;
    assert_eq!(state["data"].as_array().unwrap().len(), 90);
    assert_eq!(count(&sim, "/api/orderables"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_takes_a_bare_array_whole() {
    let sim = canary_simulator();
    let state = run_ok(&sim, json!([{"getAll": ["programs"]}])).await;
    assert_eq!(state["data"].as_array().unwrap().len(), 6);
    assert_eq!(count(&sim, "/api/programs"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_keeps_items_once_when_the_data_moves_between_pages() {
    let sim = canary_simulator();
    // A facility appears at the head of the list after two pages: page 3 then starts
    // with the last item of page 2 again.
    sim.add_facility_after(2);
    let state = run_ok(&sim, json!([{"getAll": ["facilities", null, {"pageSize": 100}]}])).await;
    let items = state["data"].as_array().unwrap();
    let ids: std::collections::HashSet<_> = items.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), items.len(), "the repeated facility is kept once");
    assert_eq!(
        items.len(),
        simulators::openlmis::DEMO_FACILITY_COUNT,
        "every original facility, once"
    );
}

// ---- tokens -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_expires_mid_job_is_replaced_before_the_next_request() {
    use simulators::openlmis::{Config, Fault, Simulator};
    let sim = Simulator::with_config(Config {
        token_ttl: std::time::Duration::from_secs(3),
        ..crate::util::canary_simulator_config()
    });
    // The second request is slow: by the third the token has been idle too long.
    sim.inject(1, Fault::Delay(std::time::Duration::ZERO));
    sim.inject(1, Fault::Delay(std::time::Duration::from_millis(3100)));
    let job =
        json!([{"get": ["programs"]}, {"get": ["programs"]}, {"get": ["facilities", {"query": {"code": "HC04"}}]}]);
    let state = run_ok(&sim, job).await;
    assert_eq!(state["data"]["content"][0]["code"], "HC04");
    let paths: Vec<_> = sim.server().requests().into_iter().map(|r| r.path).collect();
    assert_eq!(count(&sim, "/api/oauth/token"), 2, "logged in again: {paths:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_only_servers_get_the_token_in_the_header() {
    use simulators::openlmis::{Config, Simulator};
    let sim = Simulator::with_config(Config {
        query_token: false,
        ..crate::util::canary_simulator_config()
    });
    let state = run_ok(&sim, json!([{"get": ["programs"]}])).await;
    assert_eq!(state["data"].as_array().unwrap().len(), 6);
    assert!(
        sim.server()
            .requests()
            .iter()
            .all(|r| !r.query.clone().unwrap_or_default().contains("access_token"))
    );
}

// ---- parity: put, delete, options -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_delete_reach_the_resource_by_path() {
    let sim = canary_simulator();
    let first = run_ok(&sim, json!([{"initiateRequisition": [FP, HC02, JAN_2017]}])).await;
    let id = first["data"]["id"].as_str().unwrap().to_string();
    let path = format!("requisitions/{id}");
    let state = run_ok(
        &sim,
        json!([{"get": [path]}, {"put": [path, "$.data"]}, {"delete": [path]}]),
    )
    .await;
    assert_eq!(
        state["references"][2]["id"],
        id.as_str(),
        "the PUT answered with the requisition"
    );
    assert_eq!(state["response"]["statusCode"], 204);
    assert_eq!(state["response"]["method"], "DELETE");
    assert!(state["data"].is_null());
    assert!(sim.requisition_status(&id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn option_headers_are_sent_but_cannot_replace_the_token() {
    let sim = canary_simulator();
    let headers = json!({"Authorization": "Bearer stolen", "Accept-Language": "pt"});
    run_ok(&sim, json!([{"get": ["programs", {"headers": headers}]}])).await;
    let request = sim
        .server()
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/programs")
        .unwrap();
    assert_eq!(request.header("accept-language"), Some("pt"));
    assert_ne!(request.header("authorization"), Some("Bearer stolen"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_as_text_keeps_the_body_as_a_string() {
    let sim = canary_simulator();
    let state = run_ok(&sim, json!([{"get": ["programs", {"parseAs": "text"}]}])).await;
    let text = state["data"].as_str().expect("a string");
    assert!(text.starts_with('[') && text.contains("PRG001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_bounds_the_wait_for_a_slow_answer() {
    let sim = canary_simulator();
    sim.inject(1, simulators::openlmis::Fault::Delay(std::time::Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let error = run_err(
        &sim,
        json!([{"get": ["programs", {"timeout": 300, "retry": {"attempts": 0}}]}]),
    )
    .await;
    assert_eq!(error["type"], "transport");
    assert!(error["message"].as_str().unwrap().contains("timed out"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

// ---- host-side common operations ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_runs_an_operation_per_item_with_its_own_references() {
    let sim = canary_simulator();
    let event = json!({"facilityId": "$.data.id", "programId": FP,
        "lineItems": [{"orderableId": "d602d0c6-4052-456c-8ccd-61b4ad77bece", "quantity": 3, "occurredDate": "2017-02-06"}]});
    let job = json!([
        {"get": ["facilities", {"query": {"name": "Health Center", "page": 0, "size": 3}}]},
        {"each": ["$.data.content[*]", {"submitStockEvent": [event]}]},
        {"fnIf": ["$.data", {"log": ["last event", "$.data"]}]},
        {"fnIf": [false, {"delete": ["never"]}]},
        {"cursor": ["now", {"key": "lastRun"}]}
    ]);
    let state = run_ok(&sim, job).await;
    let events = sim.stock_events();
    assert_eq!(events.len(), 3);
    let facilities: Vec<_> = events
        .iter()
        .map(|e| e["facilityId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        facilities.iter().collect::<std::collections::HashSet<_>>().len(),
        3,
        "one event per facility"
    );
    assert!(state["lastRun"].as_str().unwrap().ends_with('Z'));
    assert!(state.get("index").is_none());
    assert_eq!(count(&sim, "/api/never"), 0);
}
