use serde_json::{Value, json};
use simulators::opencrvs::{OFFICE, ServerVersion};

use crate::util::{
    CANARIES, assert_no_canary, canary_configuration, canary_crvs_client, canary_simulator, cli, count, crvs_simulator,
    write_json,
};

/// A workflow: find a clinic in OpenLMIS; on success submit a stock event there and
/// then (if no errors) notify a birth in OpenCRVS; on failure list programs instead.
fn workflow(code: &str) -> Value {
    json!({"workflow": {"steps": [
        {"id": "find-clinic", "adaptor": "openlmis", "expression": [{"facilityByCode": [code]}],
         "configuration": "lmis", "next": {"record-stock": "on_job_success", "fallback": "on_job_failure"}},
        {"id": "record-stock", "adaptor": "openlmis", "expression": "record-stock.json",
         "configuration": {"$CREDENTIALS$": "lmis"}, "next": {"notify-birth": "!state.errors"}},
        {"id": "notify-birth", "adaptor": "@openfn/language-opencrvs@1.2.2", "configuration": "crvs",
         "expression": [{"submitBirthNotification": [{"child.name": {"firstname": "Ada", "surname": "Phiri"}},
                                                     {"createdAtLocation": OFFICE}]}]},
        {"id": "fallback", "adaptor": "openlmis", "expression": [{"get": ["programs"]}], "configuration": "lmis"}
    ]}, "options": {"start": "find-clinic"}})
}

fn run_workflow(
    code: &str,
) -> (
    std::process::Output,
    Value,
    simulators::openlmis::Simulator,
    simulators::opencrvs::Simulator,
) {
    let lmis = canary_simulator();
    let crvs = crvs_simulator(ServerVersion::V2_0);
    let dir = tempfile::tempdir().unwrap();
    write_json(
        dir.path(),
        "record-stock.json",
        &json!([{"submitStockEvent": [{"facilityId": "$.data.id", "programId": "dce17f2e-af3e-40ad-8e00-3496adef44c3",
            "lineItems": [{"orderableId": "d602d0c6-4052-456c-8ccd-61b4ad77bece", "quantity": 7, "occurredDate": "2017-02-06"}]}]}]),
    );
    let wf = write_json(dir.path(), "workflow.json", &workflow(code));
    let credentials = json!({"lmis": canary_configuration(&lmis.base_url()), "crvs": crvs.configuration(&canary_crvs_client(), true)});
    let creds = write_json(dir.path(), "creds.json", &credentials);
    let out = dir.path().join("out.json");
    let output = cli(
        &[
            "run",
            &wf,
            "--credentials",
            &creds,
            "-o",
            out.to_str().unwrap(),
            "--log",
            "debug",
        ],
        &dir.path().join("c"),
    );
    let text = std::fs::read_to_string(&out).expect("the output state is written");
    for (what, t) in [
        ("output", text.clone()),
        ("stderr", String::from_utf8_lossy(&output.stderr).into_owned()),
    ] {
        assert_no_canary(what, &t);
        assert!(!CANARIES.iter().any(|c| t.contains(c)));
    }
    (output, serde_json::from_str(&text).unwrap(), lmis, crvs)
}

#[test]
fn a_workflow_crosses_adaptors_along_its_success_edges() {
    let (output, state, lmis, crvs) = run_workflow("HC01");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(state["data"]["status"], "NOTIFIED", "the last step's output");
    assert!(
        state.get("configuration").is_none() && state.get("errors").is_none(),
        "{state}"
    );
    assert_eq!(lmis.stock_events().len(), 1);
    assert_eq!(
        lmis.stock_events()[0]["facilityId"],
        "e6799d64-d10d-4011-b8c2-0e4d4a3f65ce"
    );
    assert_eq!(count(&lmis, "/api/programs"), 0, "the failure branch did not run");
    assert!(crvs.server().requests().iter().any(|r| r.path.ends_with("/notify")));
}

#[test]
fn a_failed_step_records_its_error_and_the_failure_edge_runs() {
    let (output, state, lmis, crvs) = run_workflow("NOPE");
    // The failure edge handled the failure: the run succeeds, as in OpenFn, and the
    // step's error stays in the state.
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(state["errors"]["find-clinic"]["type"], "not-found");
    assert_eq!(
        state["data"][0]["code"], "PRG001",
        "the fallback step ran on the failed step's state"
    );
    assert_eq!(count(&lmis, "/api/programs"), 1);
    assert!(lmis.stock_events().is_empty());
    assert!(crvs.server().requests().is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("find-clinic: facilityByCode: no facility has the code"));
}

#[test]
fn a_missing_credential_crashes_and_a_misspelt_key_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write_json(
        dir.path(),
        "wf.json",
        &json!({"steps": [{"id": "a", "adaptor": "openlmis", "expression": [{"get": ["programs"]}], "configuration": "nope"}]}),
    );
    let creds = write_json(dir.path(), "creds.json", &json!({"lmis": {}}));
    let out = dir.path().join("out.json");
    let output = cli(
        &["run", &wf, "--credentials", &creds, "-o", out.to_str().unwrap()],
        &dir.path().join("c"),
    );
    assert_eq!(output.status.code(), Some(1));
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(state["errors"]["a"]["severity"], "crash", "{state}");
    assert!(
        state["errors"]["a"]["message"]
            .as_str()
            .unwrap()
            .contains("no credential \"nope\""),
        "{state}"
    );

    let misspelt = write_json(
        dir.path(),
        "misspelt.json",
        &json!({"steps": [{"id": "a", "adaptor": "openlmis", "expresion": [{"get": ["programs"]}]}]}),
    );
    let output = cli(&["run", &misspelt], &dir.path().join("c"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown key \"expresion\": did you mean \"expression\"?"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
