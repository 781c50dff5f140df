//! Pulls the simulator's 10,234 orderables page by page, twice in the same run:
//! through the OpenLMIS adaptor in the sandboxed host (`getAll`), and with a plain
//! Rust HTTP loop doing the same requests (log in, then one GET per page, parse each
//! page, collect the items). Prints the medians and their ratio.
//!
//! Run with `cargo bench --bench orderables`. The host keeps one connection alive per
//! origin, so the keep-alive loop is the like-for-like baseline; the loop opening a new
//! connection per request (what the host did before it pooled) is printed for reference.
//! `cargo bench --bench performance` prints the same comparison beside the others.

#[allow(dead_code, reason = "each benchmark uses part of the shared code")]
mod common;

use std::time::Instant;

use adaptor_host::{Host, HostOptions, Job, RunOptions, run_job};
use common::{Conn, median, ms, openlmis_configuration};
use serde_json::json;
use simulators::openlmis::{DEMO_ORDERABLE_COUNT, Simulator};

const PAGE_SIZE: usize = 100;
const ROUNDS: usize = 7;

#[tokio::main]
async fn main() {
    let sim = Simulator::start();
    let host = Host::new(HostOptions::default()).expect("host");
    let adaptor = host.load_builtin("openlmis").expect("adaptor");
    let job = Job::parse(&json!([{"getAll": ["orderables", null, {"pageSize": PAGE_SIZE}]}]).to_string()).unwrap();
    let state = json!({"configuration": openlmis_configuration(&sim.base_url())});

    let mut adaptor_times = Vec::new();
    let mut fresh_times = Vec::new();
    let mut pooled_times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let outcome = run_job(&host, &adaptor, &job, state.clone(), &RunOptions::default()).await;
        adaptor_times.push(started.elapsed());
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_eq!(outcome.state["data"].as_array().unwrap().len(), DEMO_ORDERABLE_COUNT);

        for (keep_alive, times) in [(false, &mut fresh_times), (true, &mut pooled_times)] {
            let started = Instant::now();
            let items = Conn::new(sim.server().addr(), keep_alive)
                .all_pages("orderables", PAGE_SIZE)
                .await;
            times.push(started.elapsed());
            assert_eq!(items.len(), DEMO_ORDERABLE_COUNT);
        }
    }
    let (adaptor, fresh, pooled) = (median(adaptor_times), median(fresh_times), median(pooled_times));
    let pages = DEMO_ORDERABLE_COUNT.div_ceil(PAGE_SIZE);
    println!("orderables: {DEMO_ORDERABLE_COUNT} items in {pages} pages of {PAGE_SIZE}, median of {ROUNDS} rounds");
    println!("  adaptor (getAll in the sandbox):        {:>8.1} ms", ms(adaptor));
    println!("  plain Rust loop, new connection/request: {:>8.1} ms", ms(fresh));
    println!("  plain Rust loop, one kept-alive conn:    {:>8.1} ms", ms(pooled));
    println!(
        "  ratio adaptor / plain (keep-alive, same connections): {:.2}",
        ms(adaptor) / ms(pooled)
    );
    println!(
        "  ratio adaptor / plain (new connection per request):   {:.2}",
        ms(adaptor) / ms(fresh)
    );
}
