//! `each` with one adaptor operation per item, over 1,000 and 10,000 items, in one
//! run: the time per item and the adaptor's peak linear memory for both, and their
//! ratios. Under contract 0.2 the state (and its growing `references`) stays in the
//! host, so the time per item should not grow with the item count and the guest's
//! memory should not grow at all.
//!
//! Run with `cargo bench --bench each`.

use std::time::Duration;

use adaptor_host::{Host, HostOptions, Job, Limits, RunOptions, run_job};
use serde_json::{Value, json};
use simulators::openlmis::Simulator;

#[tokio::main]
async fn main() {
    let sim = Simulator::start();
    let host = Host::new(HostOptions::default()).expect("host");
    let adaptor = host.load_builtin("openlmis").expect("adaptor");
    // One GET per item; the token from the first login is reused for the job.
    let job = Job::parse(&json!([{"each": ["$.data[*]", {"get": ["programs"]}]}]).to_string()).unwrap();
    let configuration = json!({"baseUrl": sim.base_url(), "username": "administrator", "password": "password",
                               "clientId": "user-client", "clientSecret": "changeme"});
    // 10,001 requests: above the default request limit of 10,000.
    let options = RunOptions {
        limits: Limits {
            requests: 20_000,
            ..Limits::default()
        },
        ..RunOptions::default()
    };
    let mut rows = Vec::new();
    for items in [1_000usize, 10_000] {
        let data: Vec<Value> = (0..items).map(|i| json!({"n": i})).collect();
        let state = json!({"configuration": configuration, "data": data});
        let outcome = run_job(&host, &adaptor, &job, state, &options).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let references = outcome.state["references"].as_array().map_or(0, Vec::len);
        assert_eq!(references, items, "one reference per item");
        assert_eq!(
            outcome.stats.requests as usize,
            items + 1,
            "a login and one GET per item"
        );
        let per_item = outcome.stats.duration / u32::try_from(items).expect("small");
        rows.push((items, per_item, outcome.stats.peak_memory));
    }
    println!("each: one adaptor GET per item, same process, same simulator");
    println!("{:>8} {:>14} {:>18}", "items", "time per item", "peak guest memory");
    for (items, per_item, peak) in &rows {
        println!("{items:>8} {:>11.1} µs {:>14.2} MiB", micros(*per_item), mib(*peak));
    }
    let (small, large) = (&rows[0], &rows[1]);
    println!(
        "ratio 10,000 / 1,000: time per item {:.2}x (target <= 1.5x), peak guest memory {:.2}x",
        micros(large.1) / micros(small.1),
        mib(large.2) / mib(small.2)
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[allow(clippy::cast_precision_loss, reason = "a printed ratio")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}
