//! JavaScript jobs, written as OpenFn users write them, run in the sandboxed JavaScript
//! runtime against the simulators.

use adaptor_host::{Outcome, run_js_job};
use serde_json::{Value, json};
use simulators::openlmis::Simulator;

use crate::util::{assert_no_canary, canary_configuration, canary_simulator, host, openlmis, options};

/// Runs JavaScript `job` with the OpenLMIS adaptor against `sim`, from `data`.
async fn lmis(sim: &Simulator, job: &str, data: Value) -> Outcome {
    let state = json!({"configuration": canary_configuration(&sim.base_url()), "data": data});
    let outcome = run_js_job(host(), openlmis(), job, state, &options()).await;
    assert_no_canary("output state", &outcome.state.to_string());
    outcome
}

/// The output state of a job that must succeed.
fn ok(outcome: &Outcome) -> &Value {
    assert!(outcome.error.is_none(), "{:?}\n{:#}", outcome.error, outcome.state);
    &outcome.state
}

/// `errors.test` of a job that must fail.
fn err(outcome: &Outcome) -> &Value {
    assert!(outcome.error.is_some(), "expected a failure: {:#}", outcome.state);
    &outcome.state["errors"]["test"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fn_and_get_compose_state_as_openfn_does() {
    let sim = canary_simulator();
    let job = r#"
get('facilities', { query: { code: 'HC02' } });
fn(state => {
  state.names = state.data.content.map(f => f.name);
  return state;
});
"#;
    let outcome = lmis(&sim, job, json!({})).await;
    let state = ok(&outcome);
    assert_eq!(state["names"], json!(["Nandumbo Health Center"]));
    assert_eq!(state["references"], json!([{}]));
    assert_eq!(state["response"]["statusCode"], 200);
    assert!(state.get("configuration").is_none());
}
