use std::path::Path;

use adaptor_host::Error;
use serde_json::json;

use crate::util::{canary_configuration, canary_simulator, cli, host, openlmis, write_json};

#[test]
fn a_component_importing_the_filesystem_is_refused_at_load() {
    let error = host()
        .load_file(Path::new(env!("FS_PROBE_WASM")))
        .err()
        .expect("refused");
    match &error {
        Error::ForbiddenImport { import, .. } => {
            assert!(import.starts_with("wasi:filesystem/"), "{import}")
        }
        other => panic!("expected a forbidden import, got {other}"),
    }
    assert!(error.to_string().contains("may not use"), "{error}");
}

#[test]
fn the_cli_refuses_it_too_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_json(dir.path(), "job.json", &json!([{"readFile": ["/etc/passwd"]}]));
    let output = cli(&["run", &job, "-a", env!("FS_PROBE_WASM")], &dir.path().join("cache"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("imports wasi:filesystem/"));
}

#[test]
fn operations_are_discovered_by_reflection() {
    let names: Vec<_> = openlmis().operations().iter().map(|o| o.name.as_str()).collect();
    for name in [
        "get",
        "getAll",
        "post",
        "put",
        "delete",
        "request",
        "submitStockEvent",
        "searchRequisitions",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let request = openlmis().operation("request").unwrap();
    assert_eq!(request.signature().split('(').next(), Some("request"));
    assert!(
        request
            .signature()
            .starts_with("request(method: enum { get, post, put, patch, delete, head, options }, path: string")
    );
}

#[test]
fn a_second_run_loads_the_compiled_component_from_the_cache() {
    let sim = canary_simulator();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let job = write_json(dir.path(), "job.json", &json!([{"get": ["programs"]}]));
    let creds = write_json(dir.path(), "creds.json", &canary_configuration(&sim.base_url()));
    let args = [
        "run",
        job.as_str(),
        "-a",
        "openlmis",
        "--credentials",
        creds.as_str(),
        "--log",
        "debug",
    ];
    assert!(cli(&args, &cache).status.success());
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut entries: Vec<_> = entries.iter().map(|e| e.to_string_lossy().into_owned()).collect();
    entries.sort();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries[0].ends_with(".cwasm"), "the compiled component: {entries:?}");
    assert_eq!(entries[1], format!("{}.sum", entries[0]), "its checksum file");
    let second = cli(&args, &cache);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(String::from_utf8_lossy(&second.stderr).contains("loaded compiled component from cache"));
}
