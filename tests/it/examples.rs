use std::process::Command;

/// `adaptor-host demo` runs every example against the simulators; each must succeed.
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
    let states: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("JSON states");
    let examples: usize = ["openlmis", "opencrvs"]
        .iter()
        .map(|api| {
            std::fs::read_dir(format!("{}/../../examples/{api}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name().to_string_lossy().into_owned();
                    name.ends_with(".json") && !name.starts_with("credentials")
                })
                .count()
        })
        .sum();
    assert_eq!(states.len(), examples, "one output state per example job");
    for state in states {
        assert!(state.get("errors").is_none(), "{state}");
        assert!(state.get("configuration").is_none());
    }
}
