//! `adaptor-host demo`: the examples, end to end, against the local simulators.

use std::process::ExitCode;

use std::sync::Arc;

use adaptor_host::events::TracingSink;
use adaptor_host::{Cancel, Credentials, Expression, Host, HostOptions, Job, Plan, Reason, RunRequest};
use serde_json::{Value, json};
use simulators::{opencrvs, openlmis};

use super::{BAD_INPUT, JOB_FAILED, report};

/// Which simulator an example runs against.
#[derive(Clone, Copy)]
enum Against {
    OpenLmis,
    OpenCrvs(opencrvs::ServerVersion),
}

/// The examples the demo runs: adaptor, simulator, job file (`.json` a JSON job, `.js`
/// an OpenFn JavaScript job), job, credentials.
const EXAMPLES: [(&str, Against, &str, &str, &str); 4] = [
    (
        "openlmis",
        Against::OpenLmis,
        "examples/openlmis/facilities-and-stock.json",
        include_str!("../../../../examples/openlmis/facilities-and-stock.json"),
        include_str!("../../../../examples/openlmis/credentials.json"),
    ),
    (
        "openlmis",
        Against::OpenLmis,
        "examples/openlmis/requisition-workflow.js",
        include_str!("../../../../examples/openlmis/requisition-workflow.js"),
        include_str!("../../../../examples/openlmis/credentials.json"),
    ),
    (
        "opencrvs",
        Against::OpenCrvs(opencrvs::ServerVersion::V1_8),
        "examples/opencrvs/birth-notification-v1.js",
        include_str!("../../../../examples/opencrvs/birth-notification-v1.js"),
        include_str!("../../../../examples/opencrvs/credentials-v1.json"),
    ),
    (
        "opencrvs",
        Against::OpenCrvs(opencrvs::ServerVersion::V2_0),
        "examples/opencrvs/birth-notification-v2.js",
        include_str!("../../../../examples/opencrvs/birth-notification-v2.js"),
        include_str!("../../../../examples/opencrvs/credentials-v2.json"),
    ),
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// A simulator started for one example.
enum Running {
    OpenLmis(openlmis::Simulator),
    OpenCrvs(opencrvs::Simulator),
}

/// Starts the example's simulator and points its configuration at it.
fn simulate(against: Against, configuration: &mut Value) -> Running {
    match against {
        Against::OpenLmis => {
            let sim = openlmis::Simulator::start();
            eprintln!("OpenLMIS simulator listening on {}", sim.base_url());
            configuration["baseUrl"] = json!(sim.base_url());
            Running::OpenLmis(sim)
        }
        Against::OpenCrvs(version) => {
            let text = |key: &str| configuration[key].as_str().unwrap_or_default().to_string();
            let client = opencrvs::SystemClient::new(&text("clientId"), &text("clientSecret"), "demo-sha-secret");
            let sim = opencrvs::Simulator::with_config(opencrvs::Config {
                version,
                clients: vec![client.clone()],
                ..opencrvs::Config::default()
            });
            eprintln!("OpenCRVS simulator listening on {}", sim.base_url());
            configuration["services"] = sim.configuration(&client, false)["services"].clone();
            Running::OpenCrvs(sim)
        }
    }
}

pub async fn demo(_args: DemoArgs) -> ExitCode {
    let host = match Host::new(HostOptions::default()) {
        Ok(host) => host,
        Err(e) => {
            report(&e.to_string());
            return ExitCode::from(BAD_INPUT);
        }
    };
    let mut failed = false;
    for (adaptor_name, against, file, job, credentials) in EXAMPLES {
        eprintln!("\n== {file} (adaptor {adaptor_name}) ==");
        let job = if file.ends_with(".js") {
            Expression::JavaScript(job.to_string())
        } else {
            Job::parse(job).expect("the JSON examples are valid jobs").into()
        };
        let mut configuration: Value = serde_json::from_str(credentials).expect("the example credentials are JSON");
        // The examples name public servers; the demo points them at a simulator.
        let simulator = simulate(against, &mut configuration);
        let plan = Plan::Job {
            adaptor: adaptor_name.to_string(),
            job,
            step_id: file.to_string(),
        };
        let request = RunRequest {
            credentials: Credentials::Configuration(configuration),
            ..RunRequest::new(file.to_string(), plan, json!({}))
        };
        let outcome = adaptor_host::run(&host, request, Arc::new(TracingSink), &Cancel::new()).await;
        failed |= outcome.report.reason != Reason::Success;
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome.state.into_value()).expect("JSON values serialize")
        );
        match simulator {
            Running::OpenLmis(sim) => eprintln!("the simulator holds {} stock event(s)", sim.stock_events().len()),
            Running::OpenCrvs(sim) => eprintln!(
                "the simulator holds {} FHIR notification(s) and {} event(s)",
                sim.notifications().len(),
                sim.event_count()
            ),
        }
    }
    if failed {
        ExitCode::from(JOB_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
