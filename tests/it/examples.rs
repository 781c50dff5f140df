use std::process::Command;

use serde_json::Value;

/// `adaptor-host demo` runs every example (one JSON job, the rest OpenFn JavaScript)
/// against the simulators; each must succeed and leave its mark on its simulator.
#[test]
fn the_demo_runs_every_example_without_errors() {
    let output = Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let states: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("JSON states");
    let jobs: Vec<String> = ["openlmis", "opencrvs"]
        .iter()
        .flat_map(|api| {
            std::fs::read_dir(format!("{}/../../examples/{api}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| (name.ends_with(".json") || name.ends_with(".js")) && !name.starts_with("credentials"))
        })
        .collect();
    assert_eq!(
        jobs.iter().filter(|n| n.ends_with(".json")).count(),
        1,
        "one JSON job: {jobs:?}"
    );
    assert_eq!(states.len(), jobs.len(), "one output state per example job");
    for state in &states {
        assert!(state.get("errors").is_none(), "{state}");
        assert!(state.get("configuration").is_none());
    }
    // In the demo's order: stock event, requisition, FHIR notification, v2 event.
    assert_eq!(
        states[0]["response"]["url"]
            .as_str()
            .map(|u| u.ends_with("/api/stockEvents")),
        Some(true)
    );
    assert_eq!(states[0]["response"]["statusCode"], 201);
    assert!(stderr.contains("the simulator holds 1 stock event(s)"), "{stderr}");
    assert_eq!(states[1]["requisition"]["status"], "APPROVED", "{}", states[1]);
    assert_eq!(states[2]["data"]["resourceType"], "Bundle");
    assert!(
        stderr.contains("the simulator holds 1 FHIR notification(s)"),
        "{stderr}"
    );
    assert_eq!(states[3]["data"]["status"], "NOTIFIED", "{}", states[3]);
    assert_eq!(states[3]["data"]["type"], "birth");
}
