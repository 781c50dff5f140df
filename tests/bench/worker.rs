//! Runs per second through one `adaptor-host worker` (the real binary) against the
//! Lightning simulator, at capacity 1 and 8: `cargo bench --bench worker`.
//!
//! Each run is one step of a JavaScript job with the OpenLMIS adaptor (its credential
//! fetched per run); the job sends no HTTP request, so the numbers are the worker's
//! and the protocol's cost (the simulator answers each run event after 2 ms).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use simulators::lightning::{RunSpec, Simulator, linear_plan};

const SECRET: &str = "bench-secret";
const RUNS: usize = 300;

fn main() {
    let cache = tempfile::tempdir().expect("a cache dir");
    let lmis = simulators::openlmis::Simulator::start();
    let configuration = json!({"baseUrl": lmis.base_url(), "username": "administrator", "password": "password",
        "clientId": "user-client", "clientSecret": "changeme"});
    for capacity in [1, 8] {
        let sim = Simulator::start(SECRET);
        for i in 0..RUNS {
            let mut plan = linear_plan(&[(
                "job-1",
                "@openfn/language-openlmis@1.2.2",
                "fn(state => ({ ...state, ok: true }));",
            )]);
            plan["jobs"][0]["credential_id"] = json!("lmis");
            sim.enqueue(RunSpec::new(plan, json!({"data": {"i": i}})).credential("lmis", configuration.clone()));
        }
        let started = Instant::now();
        let mut worker = Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
            .args(["worker", "--capacity", &capacity.to_string(), "--backoff", "0.05/0.2"])
            .args(["--log", "warn"])
            .env("WORKER_LIGHTNING_SERVICE_URL", sim.url())
            .env("WORKER_SECRET", SECRET)
            .env("ADAPTOR_HOST_CACHE_DIR", cache.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting adaptor-host worker");
        let done = sim.wait_completed(RUNS, Duration::from_secs(300));
        let elapsed = started.elapsed();
        let _ = worker.kill();
        let _ = worker.wait();
        let done = done.expect("every run ends");
        let ok = done.iter().filter(|c| c.reason == "success").count();
        assert_eq!(ok, RUNS, "every run succeeds: {:?}", done.first());
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        println!(
            "capacity {capacity}: {RUNS} runs in {:.2} s: {:.1} runs/s (worker start-up included)",
            elapsed.as_secs_f64(),
            RUNS as f64 / elapsed.as_secs_f64()
        );
    }
}
