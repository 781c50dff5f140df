//! JavaScript jobs, written as OpenFn users write them, run in the sandboxed JavaScript
//! runtime against the simulators.

use std::sync::Arc;

use adaptor_host::workflow::{Configuration, Edge, Step, When, Workflow};
use adaptor_host::{Cancel, Expression, FinalState, Outcome, Plan, Reason, RunRequest, run_js_job};
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
pub(crate) fn ok(outcome: &Outcome) -> &Value {
    assert!(outcome.error.is_none(), "{:?}\n{:#}", outcome.error, outcome.state);
    &outcome.state
}

/// `errors.test` of a job that must fail.
pub(crate) fn err(outcome: &Outcome) -> &Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_over_dollar_data_with_data_value_and_arrow_callbacks() {
    let sim = canary_simulator();
    let job = r#"
get('facilities', { query: { page: 0, size: 3 } });
fn(state => ({ ...state, page: state.data.content }));
each($.page, fn(state => {
  state.codes = [...(state.codes ?? []), dataValue('code')(state)];
  return state;
}));
each('$.page[*]', get(state => `facilities/${state.data.id}`));
"#;
    let outcome = lmis(&sim, job, json!({})).await;
    let state = ok(&outcome);
    let codes = state["codes"].as_array().expect("codes").clone();
    assert_eq!(codes.len(), 3, "{codes:?}");
    assert_eq!(state["index"], 2, "each leaves the last index on state");
    // The second each fetched each facility by id: the last one is in data.
    assert_eq!(state["data"]["code"], codes[2]);
    let fetched = sim
        .server()
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/facilities/"))
        .count();
    assert_eq!(fetched, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_imports_then_and_cursor() {
    let sim = canary_simulator();
    let job = r#"
import { get, fn, cursor } from '@openfn/language-openlmis';
// module code runs once, before the operations
const PAGE = { page: 0, size: 2 };
cursor('today', { key: 'since' });
get('programs').then(state => {
  state.count = state.data.length;
  return state;
});
get('facilities', { query: PAGE }).then(s => ({ ...s, pageSize: s.data.content.length }));
"#;
    let outcome = lmis(&sim, job, json!({})).await;
    let state = ok(&outcome);
    assert_eq!(state["count"], 6);
    assert_eq!(state["pageSize"], 2);
    let since = state["since"].as_str().expect("cursor is a string");
    assert!(since.ends_with("T00:00:00.000Z"), "{since}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compiler_rewrite_end_to_end() {
    let sim = canary_simulator();
    // lazy-state in a template, an object and nested calls; promises with .then and
    // .catch((e, state) => ...); top-level declarations and functions kept as module
    // code; imports added for the names used.
    let job = r#"
const suffix = 'HC02';
function label(s) { return `${s.data.name} (${s.data.code})`; }
get('facilities', { query: { code: $.data.wanted } });
get(`facilities/${$.data.content[0].id}`).then(state => {
  state.label = label(state);
  return state;
});
get('facilities/00000000-0000-0000-0000-000000000000').catch((e, state) => {
  state.missing = e.statusCode;
  return state;
});
fn(state => ({ ...state, same: $.data.code === suffix }));
"#;
    let outcome = lmis(&sim, job, json!({"wanted": "HC02"})).await;
    let state = ok(&outcome);
    assert_eq!(state["label"], "Nandumbo Health Center (HC02)");
    assert_eq!(state["missing"], 404);
    assert_eq!(state["same"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_common_functions_behave_as_3_3_4() {
    let sim = canary_simulator();
    let job = r#"
fn(state => {
  state.r = {
    field: field('a', 1),
    fields: fields(field('a', 1), field('b', 2)),
    dataPath: dataPath('$.a.b'),
    referencePath: referencePath('key'),
    toArray: [toArray(1), toArray([1, 2])],
    arrayToString: arrayToString([3], ','),
    humanProper: humanProper('hello_WORLD-again'),
    humanProperNumber: humanProper(7),
    splitKeys: splitKeys({ a: 1, b: 2, c: 3 }, ['b']),
    jsonValue: jsonValue({ x: { y: [5, 6] } }, '$.x.y[-1:]'),
    scrub: scrubEmojis('hi 😀 ©'),
    scrubWith: scrubEmojis('a®b', '?'),
    chunk: chunk([1, 2, 3, 4, 5], 2),
    encode: util.encode({ a: 1 }),
    decode: util.decode(util.encode({ a: 1 })),
    decodeText: util.decode(util.encode('plain')),
    uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(util.uuid()),
  };
  return state;
});
fnIf(true, fn(s => ({ ...s, ifTrue: 1 })));
fnIf($.data.nope, fn(s => ({ ...s, ifFalse: 1 })));
combine(fn(s => ({ ...s, c1: 1 })), fn(s => ({ ...s, c2: s.c1 + 1 })));
fn(state => {
  state.merged = merge('$.data.items[*]', fields(field('extra', dataValue('label'))))(state);
  state.dv = dataValue('items[1].k')(state);
  state.sv = sourceValue('$.data.items[0].n')(state);
  state.src = source('$.data..k')(state);
  state.odata = dataValue('@odata.count')(state);
  state.filtered = sourceValue("$.data.items[?(@.k=='b')].n")(state);
  return state;
});
as('programs', get('programs'));
fn(state => ({ ...state, last: lastReferenceValue('items[0].k')(state), keptLabel: state.data.label }));
map('$.data.items[*]', (item, i) => item.n * 10 + i);
cursor('2 days ago', { key: 'since' });
cursor(0, { defaultValue: 9, key: 'zero' });
cursor(undefined, { defaultValue: 'fallback', key: 'fb' });
log('logged', $.data);
alterState(s => { s.altered = true; return s; });
parseCsv('a,b\n1,2\n\n3,4');
fn(s => ({ ...s, rows: s.data }));
each(['x', 'y', 'z'], fn(s => ({ ...s, seen: [...(s.seen ?? []), s.data] })));
group([{ t: 'x', v: 1 }, { t: 'y', v: 2 }, { t: 'x', v: 3 }, { v: 4 }], 't');
"#;
    let data = json!({"items": [{"k": "a", "n": 1}, {"k": "b", "n": 2}, {"k": "c", "n": 3}], "label": "L", "@odata": {"count": 3}});
    let outcome = lmis(&sim, job, data).await;
    let state = ok(&outcome);
    let r = &state["r"];
    assert_eq!(r["field"], json!(["a", 1]));
    assert_eq!(r["fields"], json!({"a": 1, "b": 2}));
    assert_eq!(r["dataPath"], "$.data.a.b");
    assert_eq!(r["referencePath"], "$.referenceskey");
    assert_eq!(r["toArray"], json!([[1], [1, 2]]));
    assert_eq!(r["arrayToString"], ",,");
    assert_eq!(r["humanProper"], "Hello World Again");
    assert_eq!(r["humanProperNumber"], 7);
    assert_eq!(r["splitKeys"], json!([{"a": 1, "c": 3}, {"b": 2}]));
    assert_eq!(r["jsonValue"], 6);
    assert_eq!(r["scrub"], "hi \u{FFFD} \u{FFFD}");
    assert_eq!(r["scrubWith"], "a?b");
    assert_eq!(r["chunk"], json!([[1, 2], [3, 4], [5]]));
    assert_eq!(r["encode"], "eyJhIjoxfQ==");
    assert_eq!(r["decode"], json!({"a": 1}));
    assert_eq!(r["decodeText"], "plain");
    assert_eq!(r["uuid"], true);
    assert_eq!(state["ifTrue"], 1);
    assert!(state.get("ifFalse").is_none());
    assert_eq!((&state["c1"], &state["c2"]), (&json!(1), &json!(2)));
    assert_eq!(
        state["merged"],
        json!([{"k": "a", "n": 1, "extra": "L"}, {"k": "b", "n": 2, "extra": "L"}, {"k": "c", "n": 3, "extra": "L"}])
    );
    assert_eq!(state["dv"], "b");
    assert_eq!(state["sv"], 1);
    assert_eq!(state["src"], json!(["a", "b", "c"]));
    assert_eq!(state["odata"], 3);
    assert_eq!(state["filtered"], 2);
    assert_eq!(
        state["programs"].as_array().map(Vec::len),
        Some(6),
        "as() stores the op's data"
    );
    assert_eq!(state["keptLabel"], "L", "as() restores data");
    assert_eq!(state["last"], "a", "lastReferenceValue reads the oldest reference");
    let since = state["since"].as_str().expect("since");
    assert!(since.ends_with("T00:00:00.000Z"), "{since}");
    assert_eq!(state["zero"], 0, "0 is kept over the default");
    assert_eq!(state["fb"], "fallback");
    assert_eq!(state["altered"], true);
    assert_eq!(state["seen"], json!(["x", "y", "z"]));
    assert_eq!(state["index"], 2);
    assert_eq!(
        state["data"],
        json!({"x": [{"t": "x", "v": 1}, {"t": "x", "v": 3}], "y": [{"t": "y", "v": 2}]})
    );
    assert_eq!(state["rows"], json!([{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]));
    // parseCsv composed its rows: map's results (the data before) joined references.
    let references = state["references"].as_array().expect("references");
    assert_eq!(references.last(), Some(&json!([10, 21, 32])), "{references:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_of_zero_is_an_error_not_a_hang() {
    let sim = canary_simulator();
    let outcome = lmis(&sim, "fn(state => ({ ...state, parts: chunk([1, 2], 0) }));", json!({})).await;
    let error = err(&outcome);
    assert_eq!(error["name"], "AdaptorError");
    assert!(
        error["message"].as_str().unwrap().contains("positive chunk size"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thrown_error_is_a_job_error_and_keeps_the_starting_state() {
    let sim = canary_simulator();
    let job = r#"
fn(state => { state.mutated = true; return state; });
fn(state => ({ ...state, lost: true }));
fn(state => { throw new Error('boom'); });
"#;
    let outcome = lmis(&sim, job, json!({"a": 1})).await;
    assert_eq!(
        outcome.state,
        json!({"data": {"a": 1}, "mutated": true,
               "errors": {"test": {"source": "runtime", "name": "JobError", "severity": "fail", "message": "boom"}}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_errors_are_runtime_errors_and_reference_errors_crash() {
    let sim = canary_simulator();
    let error = err(&lmis(&sim, "fn(state => state.nothing.deeper);", json!({})).await).clone();
    assert_eq!(error["name"], "RuntimeError");
    assert_eq!(error["subtype"], "TypeError");
    assert!(error["message"].as_str().unwrap().starts_with("TypeError: "), "{error}");

    let error = err(&lmis(&sim, "fn(state => notDefinedAnywhere(state));", json!({})).await).clone();
    assert_eq!(error["name"], "RuntimeCrash");
    assert_eq!(error["severity"], "crash");
    assert_eq!(error["subtype"], "ReferenceError");

    let error = err(&lmis(&sim, "fn(state => { throw 'plain'; });", json!({})).await).clone();
    assert_eq!(
        (&error["name"], &error["message"]),
        (&json!("JobError"), &json!("plain"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adaptor_error_carries_its_details_and_the_operation() {
    let sim = canary_simulator();
    let job = "fn(s => ({ ...s, before: 1 }));\nget('facilities/00000000-0000-0000-0000-000000000000');\n";
    let outcome = lmis(&sim, job, json!({"keep": true})).await;
    let error = err(&outcome);
    assert_eq!(error["name"], "AdaptorError");
    assert_eq!(error["severity"], "fail");
    assert_eq!(error["operationName"], "get");
    assert_eq!(error["line"], 2);
    assert_eq!(error["details"]["statusCode"], 404);
    assert_eq!(error["details"]["kind"], "http");
    assert!(
        error["details"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/facilities/00000000-0000-0000-0000-000000000000")
    );
    assert_eq!(outcome.state["data"], json!({"keep": true}), "the starting state");
    assert!(outcome.state.get("before").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_errors_name_the_line_and_column() {
    let sim = canary_simulator();
    let outcome = lmis(
        &sim,
        "get('programs');\nfn(state => {\n  return state +;\n});\n",
        json!({}),
    )
    .await;
    let error = err(&outcome);
    assert_eq!(error["name"], "CompileError");
    assert_eq!(error["severity"], "crash");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("test.js: SyntaxError:") && message.contains("(3:"),
        "{message}"
    );
    assert_eq!(sim.server().requests().len(), 0, "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_scripts_stop_at_a_named_limit_and_the_host_carries_on() {
    let sim = canary_simulator();
    let mut options = options();
    options.limits.cpu_time = std::time::Duration::from_secs(1);
    let run = |job: &'static str| {
        let state = json!({"configuration": canary_configuration(&sim.base_url())});
        let options = options.clone();
        async move { run_js_job(host(), openlmis(), job, state, &options).await }
    };

    let spin = run("fn(state => { while (true) {} });").await;
    let error = err(&spin);
    assert_eq!(error["name"], "TimeoutError");
    assert!(error["message"].as_str().unwrap().contains("CPU time limit"), "{error}");

    let top_level = run("while (true) {}\nfn(s => s);").await;
    assert!(err(&top_level)["message"].as_str().unwrap().contains("CPU time limit"));

    // Boa allocates slowly: a smaller memory limit and more CPU time keep this quick.
    let mut small = options.clone();
    small.limits.memory_bytes = 16 << 20;
    small.limits.cpu_time = std::time::Duration::from_secs(30);
    let bomb_job = "fn(state => { const a = []; while (true) a.push(new Array(1 << 16).fill(a.length)); });";
    let state = json!({"configuration": canary_configuration(&sim.base_url())});
    let bomb = run_js_job(host(), openlmis(), bomb_job, state, &small).await;
    let error = err(&bomb);
    assert_eq!(error["name"], "OOMError");
    assert!(error["message"].as_str().unwrap().contains("memory limit"), "{error}");

    let recursion = run("function f(n) { return f(n + 1) + 1; }\nfn(state => ({ ...state, n: f(0) }));").await;
    let error = err(&recursion);
    assert_eq!(error["name"], "RuntimeError", "{error}");
    assert!(error["message"].as_str().unwrap().contains("RangeError"), "{error}");

    let deep: &'static str = Box::leak(
        format!(
            "fn(s => ({{...s, x: {}1{} }}));",
            "[".repeat(100_000),
            "]".repeat(100_000)
        )
        .into_boxed_str(),
    );
    let error = err(&run(deep).await).clone();
    assert_eq!(error["name"], "CompileError");
    assert!(
        error["message"].as_str().unwrap().contains("nests too deeply"),
        "{error}"
    );

    let parsed = run("fn(s => ({ ...s, x: JSON.parse('['.repeat(100000) + ']'.repeat(100000)) }));").await;
    assert!(parsed.error.is_some(), "{}", parsed.state);

    let never = run("fn(() => new Promise(() => {}));").await;
    assert!(err(&never)["message"].as_str().unwrap().contains("never settled"));

    // The host is fine: the next job runs.
    let fine = run("fn(state => ({ ...state, ok: 1 }));").await;
    assert_eq!(ok(&fine)["ok"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencrvs_document_entries_inside_a_birth_notification() {
    use simulators::opencrvs::{HEALTH_FACILITY, OFFICE, ServerVersion};
    let sim = crate::util::crvs_simulator(ServerVersion::V1_8);
    let configuration = sim.configuration(&crate::util::canary_crvs_client(), true);
    let job = format!(
        r#"
const office = '{OFFICE}';
// createDocumentEntry is a plain function: state is read through the arrow, as in OpenFn.
createBirthNotification(state => [
  createDocumentEntry({{ resourceType: 'Composition', type: {{ coding: [{{ system: 'http://opencrvs.org/doc-types', code: 'birth-notification' }}] }}, section: [] }}, 'urn:uuid:c1'),
  createDocumentEntry({{ resourceType: 'Task', status: 'draft', intent: 'unknown', focus: {{ reference: 'urn:uuid:c1' }},
    extension: [{{ url: 'http://opencrvs.org/specs/extension/regLastOffice', valueReference: {{ reference: `Location/${{office}}` }} }}] }}),
  createDocumentEntry({{ resourceType: 'Patient', name: [{{ use: 'en', given: [state.data.firstName], family: 'Doe' }}], birthDate: '2025-06-02', gender: 'female' }}),
  createDocumentEntry({{ resourceType: 'Encounter', status: 'finished', location: [{{ location: {{ reference: 'Location/{HEALTH_FACILITY}' }} }}] }}),
]);
fn(state => ({{ ...state, status: state.data.entry[1].resource.businessStatus.coding[0].code }}));
"#
    );
    let state = json!({"configuration": configuration, "data": {"firstName": "Jane"}});
    let outcome = run_js_job(host(), crate::util::opencrvs(), &job, state, &options()).await;
    assert_no_canary("output state", &outcome.state.to_string());
    assert_eq!(ok(&outcome)["status"], "IN_PROGRESS");
    let notifications = sim.notifications();
    assert_eq!(notifications.len(), 1);
    let entries = notifications[0]["entry"].as_array().expect("entries");
    assert_eq!(entries[0]["fullUrl"], "urn:uuid:c1");
    let fresh = entries[2]["fullUrl"].as_str().expect("a fresh fullUrl");
    assert!(fresh.starts_with("urn:uuid:") && fresh.len() == 45, "{fresh}");
    assert_eq!(
        entries[2]["resource"]["name"][0]["given"],
        json!(["Jane"]),
        "lazy $ resolved"
    );
}

#[test]
fn the_cli_runs_a_js_file() {
    let sim = canary_simulator();
    let dir = tempfile::tempdir().expect("temp dir");
    let job = dir.path().join("job.js");
    std::fs::write(
        &job,
        "get('programs');\nfn(state => ({ ...state, n: state.data.length }));\n",
    )
    .expect("write job");
    let credentials = crate::util::write_json(dir.path(), "creds.json", &canary_configuration(&sim.base_url()));
    let output = crate::util::cli(
        &[
            "run",
            job.to_str().unwrap(),
            "-a",
            "openlmis",
            "--credentials",
            &credentials,
        ],
        &dir.path().join("cache"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let state: Value = serde_json::from_str(&stdout).expect("output state");
    assert_eq!(state["n"], 6);
    assert_no_canary("stdout", &stdout);

    std::fs::write(&job, "fn(state => { throw new Error('nope'); });\n").expect("write job");
    let output = crate::util::cli(
        &[
            "run",
            job.to_str().unwrap(),
            "-a",
            "openlmis",
            "--credentials",
            &credentials,
        ],
        &dir.path().join("cache"),
    );
    assert!(!output.status.success());
    let state: Value = serde_json::from_slice(&output.stdout).expect("output state");
    assert_eq!(state["errors"]["job"]["name"], "JobError");
}

/// A workflow in code: `start` (a JavaScript job that sets `data`) with edges whose
/// JavaScript conditions are given, each to a step that marks `reached`.
fn conditional_workflow(base_url: &str, conditions: &[(&str, &str)]) -> Workflow {
    let step = |id: &str, job: &str, next: Vec<Edge>| Step {
        id: id.into(),
        adaptor: Some("openlmis".into()),
        job: Some(Expression::JavaScript(job.into())),
        configuration: Configuration::Inline(canary_configuration(base_url)),
        state: None,
        next,
    };
    let mut steps = vec![step(
        "start",
        "fn(state => ({ ...state, data: [1, 2] }));",
        conditions
            .iter()
            .map(|(target, when)| Edge {
                target: (*target).into(),
                when: When::JavaScript((*when).into()),
            })
            .collect(),
    )];
    for (target, _) in conditions {
        steps.push(step(target, "fn(state => ({ ...state, reached: true }));", vec![]));
    }
    Workflow {
        steps,
        start: "start".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_edge_conditions_follow_truthy_expressions() {
    let sim = canary_simulator();
    let workflow = conditional_workflow(
        &sim.base_url(),
        &[
            ("nonempty", "state.data.length > 0"),
            ("no-errors", "!state.errors"),
            ("big", "upstreamStepId === 'start' && state.data.length > 5"),
            ("empty-string", "''"),
        ],
    );
    let request = RunRequest::new("run-1", Plan::Workflow(workflow), json!({}));
    let outcome = adaptor_host::run(host(), request, Arc::new(|_| {}), &Cancel::new()).await;
    assert_eq!(outcome.report.reason, Reason::Success, "{:?}", outcome.report);
    let FinalState::Leaves(leaves) = outcome.state else {
        panic!("two leaves expected: {:?}", outcome.state);
    };
    let mut reached: Vec<&str> = leaves.keys().map(String::as_str).collect();
    reached.sort_unstable();
    assert_eq!(reached, ["no-errors", "nonempty"]);
    for state in leaves.values() {
        assert_eq!(state["reached"], true);
        assert_eq!(state["data"], json!([1, 2]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throwing_edge_condition_crashes_the_run_naming_the_expression() {
    let sim = canary_simulator();
    let workflow = conditional_workflow(&sim.base_url(), &[("next", "state.missing.deeper")]);
    let request = RunRequest::new("run-1", Plan::Workflow(workflow), json!({}));
    let outcome = adaptor_host::run(host(), request, Arc::new(|_| {}), &Cancel::new()).await;
    assert_eq!(outcome.report.reason, Reason::Crash, "{:?}", outcome.report);
    assert_eq!(outcome.report.error_type.as_deref(), Some("EdgeConditionError"));
    let message = outcome.report.error_message.unwrap_or_default();
    assert!(message.contains("state.missing.deeper"), "{message}");
    assert!(message.contains("TypeError"), "{message}");
    // The run stopped at the edge: the last output is `start`'s.
    assert!(outcome.state.into_value().get("reached").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_common_alone_runs_with_the_common_adaptor() {
    let job = r#"
import { fn, each, dataValue, merge } from '@openfn/language-common';
fn(state => ({ ...state, rows: state.data.rows }));
each($.rows, fn(state => {
  state.names = [...(state.names ?? []), dataValue('name')(state).toUpperCase()];
  return state;
}));
fn(state => ({ ...state, count: state.names.length }));
"#;
    for adaptor in ["@openfn/language-common@3.3.4", "common"] {
        let plan = Plan::Job {
            adaptor: adaptor.into(),
            job: Expression::JavaScript(job.into()),
            step_id: "test".into(),
        };
        let input = json!({"data": {"rows": [{"name": "ada"}, {"name": "grace"}]}});
        let outcome = adaptor_host::run(
            host(),
            RunRequest::new("run-1", plan, input),
            Arc::new(|_| {}),
            &Cancel::new(),
        )
        .await;
        assert_eq!(
            outcome.report.reason,
            Reason::Success,
            "{adaptor}: {:?}",
            outcome.report
        );
        let state = outcome.state.into_value();
        assert_eq!(state["names"], json!(["ADA", "GRACE"]), "{adaptor}: {state}");
        assert_eq!(state["count"], 2);
    }
    assert!(adaptor_host::builtin_adaptors().contains(&"common"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_lines_count_against_the_log_volume_even_when_empty() {
    let sim = canary_simulator();
    let mut options = options();
    options.limits.log_bytes = 10_000;
    for job in [
        "fn(state => { while (true) console.log(''); });",
        "fn(state => { while (true) console.log({ a: [1, 2] }, 'x'); });",
    ] {
        let state = json!({"configuration": canary_configuration(&sim.base_url())});
        let outcome = run_js_job(host(), openlmis(), job, state, &options).await;
        let message = err(&outcome)["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains("log volume limit of 10000 bytes"), "{job}: {message}");
    }
}

/// Each job runs in a fresh instance of the pre-initialized runtime (the snapshot taken
/// after language-common loaded): its random numbers, UUIDs and clock are its own, and
/// nothing an earlier job left on the global object is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_share_nothing_through_the_pre_initialized_runtime() {
    let job = r#"
fn(state => ({ ...state, random: Math.random(), uuid: util.uuid(), now: Date.now(), seen: globalThis.left ?? null }));
fn(state => { globalThis.left = 'by an earlier job'; return state; });
"#;
    let common = host().adaptor("common").expect("the common adaptor");
    let mut runs = Vec::new();
    for _ in 0..2 {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_millis() as f64;
        let outcome = run_js_job(host(), &common, job, json!({}), &options()).await;
        let state = ok(&outcome).clone();
        let now = state["now"].as_f64().expect("Date.now()");
        assert!(
            now >= before.floor() && now < before + 60_000.0,
            "Date.now() {now} is not the job's time {before}"
        );
        assert_eq!(state["seen"], Value::Null);
        runs.push(state);
    }
    assert_ne!(runs[0]["random"], runs[1]["random"]);
    assert_ne!(runs[0]["uuid"], runs[1]["uuid"]);
}

/// An adaptor operation named as a language-common function (the probe's `join`) is
/// the one a job gets, imported implicitly or explicitly, as the JavaScript adaptors'
/// own exports win over the language-common functions they re-export; the other
/// language-common functions are still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_shadows_the_language_common_function_of_its_name() {
    let implicit = "join(['a', 'b']);\nfn(state => ({ ...state, data: state.data.toUpperCase() }));";
    let explicit = "import { join, fn } from '@openfn/language-probe';\njoin(['c', 'd']);\nfn(state => state);";
    for (job, joined) in [(implicit, "A-B"), (explicit, "c-d")] {
        let outcome = run_js_job(host(), crate::util::probe(), job, json!({}), &options()).await;
        let state = ok(&outcome);
        assert_eq!(state["data"], joined, "{job}");
    }
}
