//! The compiled-component cache holds machine code that runs as is: an entry that is
//! not exactly what this host wrote for this adaptor, or a cache others can write, is
//! never loaded. Real `adaptor-host run` processes on real cache files.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::json;
use simulators::opencrvs::{OFFICE, ServerVersion};

use crate::util::{
    assert_stderr_has, canary_configuration, canary_crvs_client, canary_simulator, cli, crvs_simulator, stderr,
    write_json,
};

fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    entries.sort();
    entries
}

/// Runs `get programs` with the OpenLMIS adaptor.
fn run_openlmis(dir: &Path, cache: &Path) -> Output {
    let sim = canary_simulator();
    let job = write_json(dir, "programs.json", &json!([{"get": ["programs"]}]));
    let creds = write_json(dir, "lmis.json", &canary_configuration(&sim.base_url()));
    cli(
        &["run", &job, "-a", "openlmis", "--credentials", &creds, "--log", "debug"],
        cache,
    )
}

/// Runs an OpenCRVS-only operation (unknown to any other adaptor).
fn run_opencrvs(dir: &Path, cache: &Path) -> Output {
    let sim = crvs_simulator(ServerVersion::V2_0);
    let job = json!([{"submitBirthNotification": [
        {"child.name": {"firstname": "Jane", "surname": "Doe"}}, {"createdAtLocation": OFFICE}
    ]}]);
    let job = write_json(dir, "notify.json", &job);
    let creds = write_json(dir, "crvs.json", &sim.configuration(&canary_crvs_client(), true));
    cli(
        &["run", &job, "-a", "opencrvs", "--credentials", &creds, "--log", "debug"],
        cache,
    )
}

#[test]
fn a_cache_entry_copied_over_another_adaptors_is_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let lmis = run_openlmis(dir.path(), &cache);
    assert!(lmis.status.success(), "{}", stderr(&lmis));
    let lmis_entry = entries(&cache).pop().unwrap();
    let crvs = run_opencrvs(dir.path(), &cache);
    assert!(crvs.status.success(), "{}", stderr(&crvs));
    let crvs_entry = entries(&cache).into_iter().find(|e| *e != lmis_entry).unwrap();

    // Someone swaps the entries.
    std::fs::copy(&lmis_entry, &crvs_entry).unwrap();
    let swapped = run_opencrvs(dir.path(), &cache);
    assert!(swapped.status.success(), "the right adaptor ran: {}", stderr(&swapped));
    assert_stderr_has(&swapped, "another component's entry copied over it");
    assert!(!stderr(&swapped).contains("loaded compiled component from cache"));
    // The entry was rewritten, and loads again.
    let again = run_opencrvs(dir.path(), &cache);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_stderr_has(&again, "loaded compiled component from cache");
}

#[test]
fn a_truncated_cache_entry_is_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    assert!(run_openlmis(dir.path(), &cache).status.success());
    let entry = entries(&cache).pop().unwrap();
    let bytes = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &bytes[..bytes.len() / 2]).unwrap();

    let truncated = run_openlmis(dir.path(), &cache);
    assert!(truncated.status.success(), "{}", stderr(&truncated));
    assert_stderr_has(
        &truncated,
        "does not match the length and checksum recorded when it was written",
    );
    assert!(!stderr(&truncated).contains("loaded compiled component from cache"));
    assert_eq!(std::fs::read(&entry).unwrap().len(), bytes.len(), "rewritten whole");
    let mut names: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let sum = entry.with_file_name(format!("{}.sum", entry.file_name().unwrap().to_string_lossy()));
    assert_eq!(
        names,
        [entry, sum],
        "the entry and its checksum file, no temporary file left"
    );
}

#[test]
fn a_cache_others_can_write_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    assert!(run_openlmis(dir.path(), &cache).status.success());
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "created private: {mode:o}");

    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let open = run_openlmis(dir.path(), &cache);
    assert!(open.status.success(), "{}", stderr(&open));
    assert!(
        stderr(&open).contains("not using the component cache") && stderr(&open).contains("writable by other users"),
        "{}",
        stderr(&open)
    );
    assert!(!stderr(&open).contains("loaded compiled component from cache"));

    // A private directory, but a world-writable entry.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    let entry = entries(&cache).pop().unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let writable = run_openlmis(dir.path(), &cache);
    assert!(writable.status.success(), "{}", stderr(&writable));
    assert_stderr_has(&writable, "the file is writable by other users");
    assert!(!stderr(&writable).contains("loaded compiled component from cache"));
}
