use serde_json::{Value, json};
use simulators::opencrvs::{DISTRICT, HEALTH_FACILITY, OFFICE, ServerVersion};

use crate::util::{CANARY_SECRET, crvs_simulator, paths, run_crvs};

fn ok(outcome: &adaptor_host::Outcome) -> &Value {
    assert!(
        outcome.error.is_none(),
        "{:?}\n{}",
        outcome.error,
        outcome.state["errors"]
    );
    &outcome.state
}

fn err(outcome: &adaptor_host::Outcome) -> &Value {
    assert!(outcome.error.is_some(), "expected a failure: {}", outcome.state);
    &outcome.state["errors"]["test"]
}

fn declaration() -> Value {
    json!({"child.name": {"firstname": "Jane", "surname": "Doe"}, "child.dob": "2025-06-02",
           "child.placeOfBirth": "HEALTH_FACILITY", "child.birthLocation": HEALTH_FACILITY})
}

// ---- tokens -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_requested_once_with_the_credentials_in_the_query() {
    let sim = crvs_simulator(ServerVersion::V1_9);
    let offices = json!({"getLocations": [{"params": {"type": "CRVS_OFFICE"}}]});
    let state = ok(&run_crvs(&sim, json!([offices, offices]), true).await).clone();
    assert!(state["data"].is_object(), "a FHIR bundle: {}", state["data"]);
    let requests = sim.server().requests();
    let tokens: Vec<_> = requests.iter().filter(|r| r.path == "/auth/token").collect();
    assert_eq!(tokens.len(), 1);
    let query = tokens[0].query.clone().unwrap_or_default();
    assert!(
        query.contains("grant_type=client_credentials") && query.contains("client_id="),
        "{query}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_unauthorized_and_the_secret_never_shows() {
    let sim = crvs_simulator(ServerVersion::V1_9);
    let mut configuration = sim.configuration(&crate::util::canary_crvs_client(), true);
    configuration["clientSecret"] = json!("canary-secret-WRONG");
    let outcome = crate::util::run(
        crate::util::opencrvs(),
        r#"[{"getLocations": []}]"#,
        configuration,
        &crate::util::options(),
    )
    .await;
    let error = err(&outcome);
    assert_eq!(error["type"], "unauthorized");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("client id or secret is wrong"),
        "{error}"
    );
    assert_eq!(error["details"]["exchange"]["statusCode"], 401);
    assert_eq!(error["details"]["exchange"]["body"]["error"], "invalid_client");
    let text = outcome.state.to_string();
    assert!(
        !text.contains("canary-secret-WRONG") && !text.contains(CANARY_SECRET),
        "{text}"
    );
    assert!(!text.contains("client_secret="), "no query string in errors: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_expires_between_operations_is_renewed() {
    let sim = crvs_simulator(ServerVersion::V1_9);
    sim.expire_tokens_after(1);
    let job = json!([
        {"getLocations": [{"params": {"type": "CRVS_OFFICE"}}]},
        {"searchEvents": [{"type": "and", "clauses": [{"eventType": "birth"}]}, {"limit": 5}]}
    ]);
    let state = ok(&run_crvs(&sim, job, true).await).clone();
    assert_eq!(state["data"].as_array().unwrap().len(), 5);
    assert_eq!(
        paths(sim.server()),
        [
            "/auth/token",
            "/gateway/location",
            "/register/api/events/events/search",
            "/auth/token",
            "/register/api/events/events/search"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_unauthenticated_gets_a_new_token_and_one_retry() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    sim.expire_tokens_after(1);
    let job = json!([{"getLocations": [{"params": {"type": "CRVS_OFFICE"}}]}, {"queryEvents": [{"event": "birth"}]}]);
    let state = ok(&run_crvs(&sim, job, true).await).clone();
    assert_eq!(state["response"]["totalItems"], 25);
    assert_eq!(
        paths(sim.server()).iter().filter(|p| *p == "/gateway/graphql").count(),
        2
    );
}

// ---- versions -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_9_notifies_through_events_notifications() {
    let sim = crvs_simulator(ServerVersion::V1_9);
    let job = json!([{"submitBirthNotification": [declaration(), {"createdAtLocation": OFFICE}]}]);
    let state = ok(&run_crvs(&sim, job, true).await).clone();
    assert_eq!(state["data"]["status"], "NOTIFIED");
    assert_eq!(
        state["references"].as_array().unwrap().len(),
        2,
        "references grow by two"
    );
    assert_eq!(state["references"][1]["status"], "CREATED");
    let posts: Vec<_> = paths(sim.server())
        .into_iter()
        .filter(|p| p.starts_with("/register"))
        .collect();
    assert_eq!(
        posts,
        [
            "/register/api/events/events",
            "/register/api/events/events/notifications"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_0_notifies_by_event_path_and_gets_its_token_from_the_gateway() {
    let sim = crvs_simulator(ServerVersion::V2_0);
    let job = json!([
        {"submitBirthNotification": [declaration(), {"createdAtLocation": OFFICE}]},
        {"getEvent": ["$.data.id"]}
    ]);
    let state = ok(&run_crvs(&sim, job, true).await).clone();
    let id = state["data"]["id"].as_str().unwrap();
    assert_eq!(state["data"]["status"], "NOTIFIED");
    assert_eq!(
        state["response"]["headers"]["x-version"], "v2.0.0",
        "the version is visible to jobs"
    );
    let all = paths(sim.server());
    assert_eq!(all[0], "/gateway/auth/token");
    assert!(
        all.contains(&format!("/register/api/events/events/{id}/notify")),
        "{all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_version_the_javascript_routes_are_used() {
    let sim = crvs_simulator(ServerVersion::V2_0);
    // The JS adaptor asks auth.<domain>/token, which 2.0 no longer has: the same
    // configuration with version 2.0 works (above); without it, it fails like the JS.
    let error = err(&run_crvs(&sim, json!([{"getLocations": []}]), false).await).clone();
    assert_eq!(error["details"]["statusCode"], 404);
    assert_eq!(paths(sim.server()), ["/auth/token"]);

    let sim = crvs_simulator(ServerVersion::V1_9);
    let state = ok(&run_crvs(&sim, json!([{"getLocations": []}]), false).await).clone();
    assert!(state["data"].is_array(), "countryconfig's list: {}", state["data"]);
    assert_eq!(paths(sim.server())[1], "/countryconfig/api/events/locations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_missing_from_the_version_is_refused_before_sending() {
    let sim = crvs_simulator(ServerVersion::V2_0);
    let error = err(&run_crvs(&sim, json!([{"queryEvents": [{"event": "birth"}]}]), true).await).clone();
    assert_eq!(error["type"], "invalid-argument");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("queryEvents is not available in OpenCRVS 2.0"),
        "{error}"
    );
    let sim = crvs_simulator(ServerVersion::V1_8);
    let error = err(&run_crvs(&sim, json!([{"createEvent": ["birth"]}]), true).await).clone();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not available in OpenCRVS 1.8 and earlier"),
        "{error}"
    );
    assert!(sim.server().requests().is_empty(), "not even a token request");
}

// ---- notifications ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_errors_carry_the_servers_messages() {
    let sim = crvs_simulator(ServerVersion::V1_9);
    for (options, status, message) in [
        (
            json!({}),
            400,
            "createdAtLocation is required and must be a valid office id",
        ),
        (
            json!({"createdAtLocation": DISTRICT}),
            400,
            "createdAtLocation must be an office location",
        ),
        (json!({"createdAtLocation": "not-a-uuid"}), 400, "Invalid uuid"),
    ] {
        let job = json!([{"createEvent": ["birth"]}, {"notifyEvent": ["$.data.id", declaration(), options]}]);
        let error = err(&run_crvs(&sim, job, true).await).clone();
        assert_eq!(error["details"]["statusCode"], status, "{error}");
        assert!(error["message"].as_str().unwrap().contains(message), "{error}");
    }
    let mut bad = declaration();
    bad["foo.bar"] = json!("hello");
    let job = json!([{"createEvent": ["birth"]}, {"notifyEvent": ["$.data.id", bad, {"createdAtLocation": OFFICE}]}]);
    let error = err(&run_crvs(&sim, job, true).await).clone();
    assert!(
        error["details"]["body"]["message"]
            .as_str()
            .unwrap()
            .contains("Unexpected field"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_event_is_idempotent_on_its_transaction_id() {
    let sim = crvs_simulator(ServerVersion::V1_9);
    let before = sim.event_count();
    let options = json!({"transactionId": "0b3f6f0e-7c1a-4d7e-9e55-1f2a3b4c5d6e"});
    let state = ok(&run_crvs(
        &sim,
        json!([{"createEvent": ["birth", options]}, {"createEvent": ["birth", options]}]),
        true,
    )
    .await)
    .clone();
    assert_eq!(state["data"]["id"], state["references"][1]["id"]);
    assert_eq!(sim.event_count(), before + 1);
}

fn fhir_entries(office: &str) -> Value {
    json!([
        {"fullUrl": "urn:uuid:c1", "resource": {"resourceType": "Composition", "type": {"coding": [{"system": "http://opencrvs.org/doc-types", "code": "birth-notification"}]}, "section": []}},
        {"fullUrl": "urn:uuid:t1", "resource": {"resourceType": "Task", "status": "draft", "intent": "unknown",
          "focus": {"reference": "urn:uuid:c1"},
          "extension": [{"url": "http://opencrvs.org/specs/extension/regLastOffice", "valueReference": {"reference": format!("Location/{office}")}}]}},
        {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "name": [{"use": "en", "given": ["Jane"], "family": "Doe"}], "birthDate": "2025-06-02", "gender": "female"}},
        {"fullUrl": "urn:uuid:e1", "resource": {"resourceType": "Encounter", "status": "finished", "location": [{"location": {"reference": format!("Location/{HEALTH_FACILITY}")}}]}}
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fhir_birth_notification_is_accepted_and_a_bad_office_is_the_servers_500() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let state = ok(&run_crvs(&sim, json!([{"createBirthNotification": [fhir_entries(OFFICE)]}]), true).await).clone();
    assert_eq!(
        state["data"]["entry"][1]["resource"]["businessStatus"]["coding"][0]["code"],
        "IN_PROGRESS"
    );
    assert_eq!(sim.notifications().len(), 1);
    assert_eq!(sim.notifications()[0]["type"], "document");

    let error = err(&run_crvs(
        &sim,
        json!([{"createBirthNotification": [fhir_entries(DISTRICT)]}]),
        true,
    )
    .await)
    .clone();
    assert_eq!(error["details"]["statusCode"], 500);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("the provided office with id Location/"),
        "{error}"
    );
}

// ---- search -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_events_pages_with_count_and_skip_in_the_variables() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let state = ok(&run_crvs(
        &sim,
        json!([{"queryEvents": [{"event": "birth"}, {"count": 10, "skip": 10}]}]),
        true,
    )
    .await)
    .clone();
    let results = state["data"].as_array().unwrap();
    assert_eq!(results.len(), 10);
    assert_eq!(results[0]["registration"]["trackingId"], "B000010");
    assert_eq!(state["response"]["totalItems"], 25);

    let state = ok(&run_crvs(
        &sim,
        json!([{"queryEvents": [{"event": "birth"}, {"count": 10, "all": true}]}]),
        true,
    )
    .await)
    .clone();
    assert_eq!(state["data"].as_array().unwrap().len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_events_walks_limit_and_offset_pages() {
    let sim = crvs_simulator(ServerVersion::V2_0);
    let query =
        json!({"type": "and", "clauses": [{"eventType": "birth", "status": {"type": "exact", "term": "REGISTERED"}}]});
    let state = ok(&run_crvs(
        &sim,
        json!([{"searchEvents": [query, {"limit": 10, "all": true}]}]),
        true,
    )
    .await)
    .clone();
    assert_eq!(state["data"].as_array().unwrap().len(), 25);
    assert_eq!(state["response"]["total"], 25);
    assert_eq!(paths(sim.server()).iter().filter(|p| p.ends_with("/search")).count(), 3);

    let error = err(&run_crvs(
        &sim,
        json!([{"searchEvents": [{"type": "and", "clauses": [{}]}]}]),
        true,
    )
    .await)
    .clone();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("At least one query field must be specified."),
        "{error}"
    );
}

// ---- other operations ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_follow_the_version() {
    let sim = crvs_simulator(ServerVersion::V2_0);
    let state = ok(&run_crvs(
        &sim,
        json!([{"getLocations": [{"params": {"locationType": "CRVS_OFFICE"}}]}]),
        true,
    )
    .await)
    .clone();
    assert_eq!(state["data"][0]["id"], OFFICE);
    assert_eq!(paths(sim.server())[1], "/register/api/events/locations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_takes_the_host_option_and_gateway_errors_are_retried() {
    let sim = crvs_simulator(ServerVersion::V1_9);
    sim.fail_next(1, 502);
    let job = json!([{"request": ["GET", "api/events/locations", null, {"host": "countryconfig", "retry": {"baseDelay": 10}}]}]);
    let state = ok(&run_crvs(&sim, job, true).await).clone();
    assert!(state["data"].is_array());
    assert_eq!(
        paths(sim.server())
            .iter()
            .filter(|p| *p == "/countryconfig/api/events/locations")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_document_entry_builds_an_entry_without_a_request() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let state = ok(&run_crvs(
        &sim,
        json!([{"createDocumentEntry": [{"resourceType": "Patient"}]}]),
        true,
    )
    .await)
    .clone();
    assert!(state["data"]["fullUrl"].as_str().unwrap().starts_with("urn:uuid:"));
    assert_eq!(state["data"]["resource"]["resourceType"], "Patient");
    assert!(sim.server().requests().is_empty());
}

// ---- FHIR builders --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_birth_and_death_notifications_pass_the_gateways_validation() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let address = json!({"line": ["12 Mwansa Road"], "district": DISTRICT, "state": simulators::opencrvs::STATE});
    let birth = json!({
        "child": {"name": {"given": ["Chanda"], "family": "Mulenga"}, "gender": "female", "birthDate": "2025-06-02"},
        "weightKg": 3.2, "attendant": "MIDWIFE", "multipleBirth": false,
        "mother": {"name": {"given": ["Mutale"], "family": "Mulenga"}, "nationalId": "1234567890", "address": address},
        "father": {"name": {"given": ["Bwalya"], "family": "Mulenga"}},
        "informant": "FATHER",
        "placeOfBirth": HEALTH_FACILITY, "office": OFFICE, "contactPhone": "+260759205190"
    });
    let death = json!({
        "deceased": {"name": {"given": ["Joseph"], "family": "Phiri"}, "gender": "male", "birthDate": "1950-01-01"},
        "dateOfDeath": "2025-06-01", "placeOfDeath": HEALTH_FACILITY, "mannerOfDeath": "NATURAL_CAUSES",
        "causeOfDeath": "I21", "informant": {"name": {"given": ["Ruth"], "family": "Phiri"}},
        "informantRelationship": "SPOUSE", "office": OFFICE, "contactPhone": "+260759205191"
    });
    let job = json!([
        {"buildBirthNotification": [birth]},
        {"createBirthNotification": ["$.data"]},
        {"buildDeathNotification": [death]},
        {"createBirthNotification": ["$.data"]}
    ]);
    let state = ok(&run_crvs(&sim, job, true).await).clone();
    let birth_entries = state["references"][1].as_array().unwrap();
    let kinds: Vec<_> = birth_entries
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Composition",
            "Task",
            "Patient",
            "Patient",
            "Patient",
            "RelatedPerson",
            "Encounter",
            "Observation",
            "Observation",
            "Observation"
        ]
    );
    let sections: Vec<_> = birth_entries[0]["resource"]["section"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        sections,
        [
            "child-details",
            "mother-details",
            "father-details",
            "informant-details",
            "birth-encounter"
        ]
    );
    assert_eq!(
        birth_entries[5]["resource"]["patient"]["reference"], birth_entries[4]["fullUrl"],
        "the father informs"
    );
    assert_eq!(sim.notifications().len(), 2, "both accepted");
    assert_eq!(
        sim.notifications()[1]["entry"][0]["resource"]["type"]["coding"][0]["code"],
        "death-notification"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_search_quota_is_a_429() {
    let sim = simulators::opencrvs::Simulator::with_config(simulators::opencrvs::Config {
        version: ServerVersion::V1_8,
        clients: vec![crate::util::canary_crvs_client()],
        search_quota: 1,
        ..simulators::opencrvs::Config::default()
    });
    let search = json!({"queryEvents": [{"event": "birth"}]});
    let error = err(&run_crvs(&sim, json!([search, search]), true).await).clone();
    assert_eq!(error["step"], 2);
    assert_eq!(error["details"]["statusCode"], 429);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Daily search quota exceeded"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_skips_the_token_request_and_a_rotated_secret_is_refused() {
    let sim = crvs_simulator(ServerVersion::V1_9);
    let client = crate::util::canary_crvs_client();
    let token = sim.issue_token(&client.id).unwrap();
    sim.rotate_secret(&client.id, "canary-secret-rotated");

    // The old secret no longer gets a token...
    let error = err(&run_crvs(
        &sim,
        json!([{"getLocations": [{"params": {"type": "CRVS_OFFICE"}}]}]),
        true,
    )
    .await)
    .clone();
    assert_eq!(error["type"], "unauthorized");

    // ...but a token issued before the rotation stays valid until it expires.
    let mut configuration = sim.configuration(&client, true);
    configuration["access_token"] = json!(token);
    let outcome = crate::util::run(
        crate::util::opencrvs(),
        r#"[{"post": ["api/events/events/search", {"query": {"type": "and", "clauses": [{"eventType": "birth"}]}, "limit": 2}, {"host": "register"}]}]"#,
        configuration,
        &crate::util::options(),
    )
    .await;
    let state = ok(&outcome);
    assert_eq!(state["data"]["results"].as_array().unwrap().len(), 2);
    assert_eq!(state["data"]["total"], 25);
    let after_rotation: Vec<_> = paths(sim.server()).into_iter().skip(1).collect();
    assert_eq!(
        after_rotation,
        ["/register/api/events/events/search"],
        "no token request"
    );
}

#[test]
fn services_are_also_reached_by_host_name() {
    use std::io::{Read as _, Write as _};
    let sim = crvs_simulator(ServerVersion::V1_9);
    let mut stream = std::net::TcpStream::connect(sim.server().addr()).unwrap();
    let request =
        "GET /location?type=CRVS_OFFICE HTTP/1.1\r\nHost: gateway.farajaland.test\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-version: v1.9.15"), "{answer}");
    assert!(answer.contains(OFFICE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_results_that_shift_between_pages_are_kept_once() {
    let sim = crvs_simulator(ServerVersion::V2_0);
    // A registration arrives after the first page: under `updatedAt desc` it lands
    // first, and page two starts with page one's last result again.
    sim.add_event_after(1);
    let query = json!({"type": "and", "clauses": [{"eventType": "birth"}]});
    let state = ok(&run_crvs(
        &sim,
        json!([{"searchEvents": [query, {"limit": 10, "all": true}]}]),
        true,
    )
    .await)
    .clone();
    let results = state["data"].as_array().unwrap();
    let ids: std::collections::HashSet<_> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), results.len(), "no result twice");
    assert_eq!(results.len(), 25, "every record there at the start, once");
    assert_eq!(state["response"]["total"], 26, "the server's total moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_scopes_is_forbidden_to_notify_and_finds_nothing() {
    let mut client = crate::util::canary_crvs_client();
    client.scopes = vec!["webhook".into()];
    let sim = simulators::opencrvs::Simulator::with_config(simulators::opencrvs::Config {
        version: ServerVersion::V1_9,
        clients: vec![client.clone()],
        ..simulators::opencrvs::Config::default()
    });
    let configuration = sim.configuration(&client, true);
    let (adaptor, options) = (crate::util::opencrvs(), crate::util::options());
    let job = json!([{"createEvent": ["birth"]}]).to_string();
    let outcome = crate::util::run(adaptor, &job, configuration.clone(), &options).await;
    let error = err(&outcome);
    assert_eq!(error["details"]["statusCode"], 403);
    assert_eq!(error["details"]["body"]["message"], "FORBIDDEN");
    let job = json!([{"queryEvents": [{"event": "birth"}]}]).to_string();
    let outcome = crate::util::run(adaptor, &job, configuration, &options).await;
    assert_eq!(
        ok(&outcome)["response"]["totalItems"],
        0,
        "GraphQL answers an empty result, not an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asynchronously_confirmed_notification_stays_requested_until_country_config_answers() {
    use simulators::opencrvs::{Config, Confirmation, Simulator};
    let config = |confirmation| Config {
        version: ServerVersion::V2_0,
        clients: vec![crate::util::canary_crvs_client()],
        confirmation,
        ..Config::default()
    };
    let sim = Simulator::with_config(config(Confirmation::Async));
    let job = json!([{"submitBirthNotification": [declaration(), {"createdAtLocation": OFFICE}]}]);
    let state = ok(&run_crvs(&sim, job.clone(), true).await).clone();
    let id = state["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(state["data"]["status"], "CREATED");
    assert_eq!(
        state["data"]["actions"].as_array().unwrap().last().unwrap()["status"],
        "Requested"
    );

    sim.confirm(&id, true);
    let state = ok(&run_crvs(&sim, json!([{"getEvent": [id]}]), true).await).clone();
    assert_eq!(state["data"]["status"], "NOTIFIED");

    let failing = Simulator::with_config(config(Confirmation::Fail));
    let error = err(&run_crvs(&failing, job, true).await).clone();
    assert_eq!(error["details"]["statusCode"], 500);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Unexpected failure from country config"),
        "{error}"
    );
}
