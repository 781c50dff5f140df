//! What running a job as OpenFn JavaScript costs, in one run:
//! - the p50 of a small JavaScript job (two GETs) against the same calls as a JSON job,
//!   their ratio and the overhead in ms;
//! - that JavaScript job's peak guest memory (the runtime's and the adaptor's linear
//!   memories, which are live together);
//! - a cold `adaptor-host run job.js` (a new process of the real binary, its cache of
//!   compiled components, and of the pre-initialized runtime, filled) against a cold
//!   `adaptor-host run job.json` with the same calls, and the ratio;
//! - an `fn` that maps 10,000 records in the sandboxed runtime (with the `common`
//!   adaptor) against the same map in native Rust on `serde_json` values, and the ratio.
//!
//! Run with `cargo bench --bench javascript`.

use std::path::Path;
use std::time::{Duration, Instant};

use adaptor_host::{Host, HostOptions, Job, RunOptions, run_job, run_js_job};
use serde_json::{Value, json};
use simulators::openlmis::Simulator;

/// Timed runs per job kind, after one warm-up run.
const RUNS: usize = 30;

/// Cold CLI runs per job kind, after one each that fills the cache.
const COLD_RUNS: usize = 10;

/// Records the `fn` maps.
const RECORDS: usize = 10_000;

#[tokio::main]
async fn main() {
    let sim = Simulator::start();
    let host = Host::new(HostOptions::default()).expect("host");
    let openlmis = host.load_builtin("openlmis").expect("openlmis");
    let common = host.load_builtin("common").expect("common");
    let options = RunOptions::default();
    let configuration = json!({"baseUrl": sim.base_url(), "username": "administrator", "password": "password",
                               "clientId": "user-client", "clientSecret": "changeme"});
    let state = json!({"configuration": configuration});

    let js = "get('programs');\nget('facilities', { query: { code: 'HC02' } });\n";
    let json_text = r#"[{"get": ["programs"]}, {"get": ["facilities", {"query": {"code": "HC02"}}]}]"#;
    let json_job = Job::parse(json_text).expect("a JSON job");
    let (mut js_times, mut json_times, mut js_peak) = (Vec::new(), Vec::new(), 0);
    for run in 0..=RUNS {
        let started = Instant::now();
        let outcome = run_js_job(&host, &openlmis, js, state.clone(), &options).await;
        let elapsed = started.elapsed();
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_eq!(outcome.state["data"]["content"][0]["code"], "HC02");
        js_peak = js_peak.max(outcome.stats.peak_memory);
        let started = Instant::now();
        let outcome = run_job(&host, &openlmis, &json_job, state.clone(), &options).await;
        let json_elapsed = started.elapsed();
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        if run > 0 {
            js_times.push(elapsed);
            json_times.push(json_elapsed);
        }
    }
    let (js_p50, json_p50) = (p50(js_times), p50(json_times));
    println!("small job (two GETs against the OpenLMIS simulator), p50 of {RUNS} runs:");
    println!(
        "  JavaScript {:.2} ms, JSON {:.2} ms: {:.2}x, overhead {:.2} ms per job",
        ms(js_p50),
        ms(json_p50),
        ms(js_p50) / ms(json_p50),
        ms(js_p50) - ms(json_p50)
    );
    println!(
        "  peak guest memory of the JavaScript job: {:.2} MiB (runtime + adaptor)",
        js_peak as f64 / f64::from(1 << 20)
    );

    let dir = tempfile::tempdir().expect("a scratch directory");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("writing a bench file");
        path
    };
    let (credentials, js_file, json_file) = (
        write("credentials.json", &configuration.to_string()),
        write("job.js", js),
        write("job.json", json_text),
    );
    let (mut js_times, mut json_times) = (Vec::new(), Vec::new());
    for run in 0..=COLD_RUNS {
        for (file, times) in [(&js_file, &mut js_times), (&json_file, &mut json_times)] {
            let elapsed = cli(file, &credentials, dir.path()).await;
            if run > 0 {
                times.push(elapsed);
            }
        }
    }
    let (js_cold, json_cold) = (p50(js_times), p50(json_times));
    println!("cold `adaptor-host run` (a new process, its component cache filled), p50 of {COLD_RUNS} runs:");
    println!(
        "  job.js {:.1} ms, job.json {:.1} ms: {:.2}x",
        ms(js_cold),
        ms(json_cold),
        ms(js_cold) / ms(json_cold)
    );

    let records: Vec<Value> = (0..RECORDS)
        .map(|i| json!({"id": i, "name": format!("facility {i}"), "stock": i % 97, "reserved": i % 13}))
        .collect();
    let map_job = "fn(state => ({ ...state, data: state.data.map(r => ({ id: r.id, name: r.name.toUpperCase(), available: r.stock - r.reserved })) }));";
    let input = json!({"data": records});
    let mut js_map = Vec::new();
    for run in 0..=5 {
        let started = Instant::now();
        let outcome = run_js_job(&host, &common, map_job, input.clone(), &options).await;
        let elapsed = started.elapsed();
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_eq!(
            outcome.state["data"][RECORDS - 1]["name"],
            format!("FACILITY {}", RECORDS - 1)
        );
        if run > 0 {
            js_map.push(elapsed);
        }
    }
    let mut native_map = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mapped = std::hint::black_box(native(std::hint::black_box(&input)));
        native_map.push(started.elapsed());
        assert_eq!(mapped["data"][RECORDS - 1]["name"], format!("FACILITY {}", RECORDS - 1));
    }
    let (js_map, native_map) = (p50(js_map), p50(native_map));
    println!("fn mapping {RECORDS} records, p50 of 5 runs:");
    println!(
        "  JavaScript job (whole job: runtime start, state in and out) {:.2} ms, native Rust (serde_json) {:.3} ms: {:.0}x",
        ms(js_map),
        ms(native_map),
        ms(js_map) / ms(native_map)
    );
}

/// Runs `adaptor-host run <job> -a openlmis` as a new process with its cache in `dir`,
/// checks its output state and returns how long the process took.
async fn cli(job: &Path, credentials: &Path, dir: &Path) -> Duration {
    let out = dir.join("out.json");
    let started = Instant::now();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
        .arg("run")
        .arg(job)
        .args(["-a", "openlmis", "--credentials"])
        .arg(credentials)
        .arg("-o")
        .arg(&out)
        .env("ADAPTOR_HOST_CACHE_DIR", dir.join("cache"))
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("running adaptor-host");
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let state: Value = serde_json::from_slice(&std::fs::read(&out).expect("the output state")).expect("JSON");
    assert_eq!(state["data"]["content"][0]["code"], "HC02", "{}", job.display());
    elapsed
}

/// The job's map in Rust: the same output state from the same input.
fn native(state: &Value) -> Value {
    let mut state = state.clone();
    let data: Vec<Value> = state["data"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            json!({
                "id": r["id"],
                "name": r["name"].as_str().unwrap_or_default().to_uppercase(),
                "available": r["stock"].as_i64().unwrap_or(0) - r["reserved"].as_i64().unwrap_or(0),
            })
        })
        .collect();
    state["data"] = Value::Array(data);
    state
}

fn p50(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
