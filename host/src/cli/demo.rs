//! `adaptor-host demo`: the examples, end to end, against the local simulators.

use std::process::ExitCode;

use adaptor_host::{Host, HostOptions, Job, RunOptions, run_job};
use serde_json::{Value, json};
use simulators::openlmis::Simulator;

use super::{BAD_INPUT, JOB_FAILED, report};

/// The examples the demo runs: adaptor, job file name, job, credentials.
const EXAMPLES: [(&str, &str, &str, &str); 2] = [
    (
        "openlmis",
        "examples/openlmis/facilities-and-stock.json",
        include_str!("../../../examples/openlmis/facilities-and-stock.json"),
        include_str!("../../../examples/openlmis/credentials.json"),
    ),
    (
        "openlmis",
        "examples/openlmis/requisition-workflow.json",
        include_str!("../../../examples/openlmis/requisition-workflow.json"),
        include_str!("../../../examples/openlmis/credentials.json"),
    ),
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub async fn demo(_args: DemoArgs) -> ExitCode {
    let sim = Simulator::start();
    eprintln!("OpenLMIS simulator listening on {}", sim.base_url());
    let host = match Host::new(HostOptions::default()) {
        Ok(host) => host,
        Err(e) => {
            report(&e.to_string());
            return ExitCode::from(BAD_INPUT);
        }
    };
    let mut failed = false;
    for (adaptor_name, file, job, credentials) in EXAMPLES {
        eprintln!("\n== {file} (adaptor {adaptor_name}) ==");
        let adaptor = match host.load_builtin(adaptor_name) {
            Ok(adaptor) => adaptor,
            Err(e) => {
                report(&e.to_string());
                return ExitCode::from(BAD_INPUT);
            }
        };
        let job = Job::parse(job).expect("the examples are valid jobs");
        let mut configuration: Value = serde_json::from_str(credentials).expect("the example credentials are JSON");
        // The example names the public demo server; the demo points it at the simulator.
        configuration["baseUrl"] = json!(sim.base_url());
        let options = RunOptions {
            step_id: file.to_string(),
            ..RunOptions::default()
        };
        let outcome = run_job(
            &host,
            &adaptor,
            &job,
            json!({ "configuration": configuration }),
            &options,
        )
        .await;
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome.state).expect("JSON values serialize")
        );
        if outcome.error.is_some() {
            failed = true;
        }
    }
    let events = sim.stock_events();
    eprintln!("\nthe simulator accepted {} stock event(s)", events.len());
    if failed {
        ExitCode::from(JOB_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
