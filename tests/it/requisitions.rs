use serde_json::json;

use crate::util::{canary_simulator, count, run_err, run_ok};

const FAMILY_PLANNING: &str = "dce17f2e-af3e-40ad-8e00-3496adef44c3";
const EPI: &str = "418bdc1d-c303-4bd0-b2d3-d8901150a983";
const NANDUMBO: &str = "176c4276-1fb1-4507-8ad2-cdfba0f47445";
const COMFORT: &str = "e6799d64-d10d-4011-b8c2-0e4d4a3f65ce";
const JAN_2017: &str = "516ac930-0d28-49f5-a178-64764e22b236";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requisition_goes_from_initiated_to_approved() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([
            {"initiateRequisition": [FAMILY_PLANNING, NANDUMBO, JAN_2017]},
            {"submitRequisition": ["$.data.id"]},
            {"authorizeRequisition": ["$.data.id"]},
            {"approveRequisition": ["$.data.id"]}
        ]),
    )
    .await;
    let id = state["data"]["id"].as_str().unwrap();
    assert_eq!(state["data"]["status"], "APPROVED");
    assert_eq!(sim.requisition_status(id).as_deref(), Some("APPROVED"));
    assert_eq!(state["references"][1]["status"], "INITIATED");
    assert_eq!(state["references"][2]["status"], "SUBMITTED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitting_an_epi_requisition_skips_authorization() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([{"initiateRequisition": [EPI, NANDUMBO, JAN_2017]}, {"submitRequisition": ["$.data.id"]}]),
    )
    .await;
    assert_eq!(state["data"]["status"], "AUTHORIZED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_requisition_for_the_same_period_is_refused() {
    let sim = canary_simulator();
    let initiate = json!({"initiateRequisition": [FAMILY_PLANNING, NANDUMBO, JAN_2017]});
    let error = run_err(&sim, json!([initiate, initiate])).await;
    assert_eq!(error["step"], 2);
    assert_eq!(error["details"]["statusCode"], 400);
    assert_eq!(error["details"]["body"]["messageKey"], "requisition.error.duplication");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_in_the_wrong_status_fails_with_the_servers_message() {
    let sim = canary_simulator();
    let error = run_err(
        &sim,
        json!([
            {"initiateRequisition": [FAMILY_PLANNING, NANDUMBO, JAN_2017]},
            {"approveRequisition": ["$.data.id"]}
        ]),
    )
    .await;
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "requisition.error.approve.mustBeAuthorizedToBeApproved"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("returned 400: Bad Request (A requisition must be authorized")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_idempotency_key_is_a_conflict_and_a_bad_one_is_refused() {
    let sim = canary_simulator();
    let key = "6f1c2b7e-8a43-4c1e-9d2f-3b5a7c9e1d20";
    let error = run_err(
        &sim,
        json!([
            {"initiateRequisition": [FAMILY_PLANNING, NANDUMBO, JAN_2017, null, {"idempotencyKey": key}]},
            {"initiateRequisition": [FAMILY_PLANNING, COMFORT, JAN_2017, null, {"idempotencyKey": key}]}
        ]),
    )
    .await;
    assert_eq!(error["details"]["statusCode"], 409);
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "requisition.error.validation.idempotencyKey.alreadyUsed"
    );

    let error = run_err(
        &sim,
        json!([{"initiateRequisition": [FAMILY_PLANNING, COMFORT, JAN_2017, false, {"idempotencyKey": "not-a-uuid"}]}]),
    )
    .await;
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "requisition.error.validation.idempotencyKey.wrongFormat"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_send_the_last_etag_and_a_stale_one_is_a_409() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([
            {"initiateRequisition": [FAMILY_PLANNING, NANDUMBO, JAN_2017]},
            {"getRequisition": ["$.data.id"]},
            {"updateRequisition": ["$.data.id", "$.data"]},
            {"updateRequisition": ["$.data.id", "$.data", "auto"]}
        ]),
    )
    .await;
    assert_eq!(state["references"][2]["id"], state["data"]["id"]);
    assert_eq!(
        state["response"]["headers"]["etag"], "W/3",
        "two saves, each with the ETag before it"
    );
    let puts: Vec<_> = sim
        .server()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.header("if-match").map(str::to_string))
        .collect();
    assert_eq!(puts, [Some("W/1".to_string()), Some("W/2".to_string())]);

    let error = run_err(
        &sim,
        json!([
            {"searchRequisitions": [{"facility": NANDUMBO}]},
            {"getRequisition": ["$.data[0].id"]},
            {"updateRequisition": ["$.data.id", "$.data", "W/1"]}
        ]),
    )
    .await;
    assert_eq!(error["details"]["statusCode"], 409);
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "requisition.error.validation.versionMismatch"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("returned 409: Conflict (This requisition has a newer version")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_auto_without_a_read_is_refused_before_sending() {
    let sim = canary_simulator();
    let error = run_err(&sim, json!([{"put": ["requisitions/x", {}, {"ifMatch": "auto"}]}])).await;
    assert_eq!(error["type"], "invalid-argument");
    assert!(error["message"].as_str().unwrap().contains("has not read"), "{error}");
    assert_eq!(count(&sim, "/api/requisitions/x"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_by_status_and_rejection_sends_a_requisition_back() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([
            {"initiateRequisition": [FAMILY_PLANNING, NANDUMBO, JAN_2017]},
            {"submitRequisition": ["$.data.id"]},
            {"authorizeRequisition": ["$.data.id"]},
            {"initiateRequisition": [FAMILY_PLANNING, COMFORT, JAN_2017]},
            {"searchRequisitions": [{"requisitionStatus": ["AUTHORIZED"]}]},
            {"rejectRequisition": ["$.data[0].id", [{"rejectionReasonDto": {"name": "Numbers do not add up"}}]]},
            {"searchRequisitions": [{"requisitionStatus": ["REJECTED", "INITIATED"]}, {"pageSize": 1}]}
        ]),
    )
    .await;
    assert_eq!(state["references"][5].as_array().unwrap().len(), 1, "one AUTHORIZED");
    let statuses: Vec<_> = state["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["REJECTED", "INITIATED"]);
    assert_eq!(state["response"]["pages"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_approval_reports_each_failure_without_failing_the_job() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([
            {"initiateRequisition": [FAMILY_PLANNING, NANDUMBO, JAN_2017]},
            {"submitRequisition": ["$.data.id"]},
            {"authorizeRequisition": ["$.data.id"]},
            {"initiateRequisition": [FAMILY_PLANNING, COMFORT, JAN_2017]},
            {"batchApproveRequisitions": [["$.references[3].id", "$.data.id"]]}
        ]),
    )
    .await;
    let approved = state["data"]["approved"].as_array().unwrap();
    let failed = state["data"]["failed"].as_array().unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["status"], "APPROVED");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["requisitionId"], state["references"][4]["id"]);
    assert_eq!(
        failed[0]["messageKey"],
        "requisition.error.approve.mustBeAuthorizedToBeApproved"
    );
    assert_eq!(
        state["response"]["statusCode"], 400,
        "the server's partial-failure status is kept"
    );
}
