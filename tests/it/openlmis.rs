use serde_json::json;

use crate::util::{canary_configuration, canary_simulator, openlmis, options, run};

#[tokio::test]
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

#[tokio::test]
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

#[tokio::test]
async fn page_without_size_is_rejected_as_the_server_does() {
    let sim = canary_simulator();
    let job = r#"[{"get": ["facilities", {"query": {"page": 1}}]}]"#;
    let outcome = run(openlmis(), job, canary_configuration(&sim.base_url()), &options()).await;
    let error = &outcome.state["errors"]["test"];
    assert_eq!(error["details"]["status"], 400);
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "referenceData.error.pageable.size.null"
    );
}

#[tokio::test]
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

#[tokio::test]
async fn request_takes_the_method_in_any_case() {
    let sim = canary_simulator();
    let job =
        r#"[{"request": ["GET", "programs"]}, {"request": ["get", "programs", null, {"query": {"code": "PRG004"}}]}]"#;
    let outcome = run(openlmis(), job, canary_configuration(&sim.base_url()), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"][0]["name"], "EPI");
}

#[tokio::test]
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
