//! Compiles the guest workspace (`adaptors/`) to `wasm32-wasip2` components so that
//! `cargo build`, `cargo run` and `cargo test` need no other step.
//!
//! The pattern is wasmtime's own `crates/test-programs/artifacts/build.rs`: a nested
//! cargo with its own target directory under `OUT_DIR` (sharing the outer one
//! deadlocks on cargo's lock), without the host's rustflags (cargo hands build scripts
//! `CARGO_ENCODED_RUSTFLAGS`, which would leak into the wasm build), and
//! `rerun-if-changed` for every file the guests' dep-info lists.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The components the build exports as `<NAME>_WASM` paths: the adaptors the binary
/// embeds, and the test-only probes the integration tests load from their paths.
const GUESTS: [&str; 4] = ["openlmis", "opencrvs", "probe", "fs_probe"];

/// The guest workspace's manifests (dep-info does not list them).
const MANIFESTS: [&str; 7] = [
    "Cargo.toml",
    "Cargo.lock",
    "kit/Cargo.toml",
    "openlmis/Cargo.toml",
    "opencrvs/Cargo.toml",
    "testing/probe/Cargo.toml",
    "testing/fs-probe/Cargo.toml",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ has a parent").to_path_buf();
    let adaptors = root.join("adaptors");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out_dir.join("guests");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--workspace",
            "--manifest-path",
        ])
        .arg(adaptors.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .output()
        .expect("could not run cargo for the guest build");
    if !output.status.success() {
        panic!(
            "building the adaptors for wasm32-wasip2 failed (is the target installed? \
             `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let release = target_dir.join("wasm32-wasip2").join("release");
    for name in GUESTS {
        let wasm = release.join(format!("{name}.wasm"));
        assert!(wasm.exists(), "the guest build did not produce {}", wasm.display());
        println!("cargo:rustc-env={}_WASM={}", name.to_uppercase(), wasm.display());
        rerun_if_deps_change(&release.join(format!("{name}.d")), &adaptors);
    }
    for manifest in MANIFESTS {
        println!("cargo:rerun-if-changed={}", adaptors.join(manifest).display());
    }
    write_docs(&root.join("wit"), &out_dir.join("docs.json"));
}

/// Writes the doc comments of every `openfn:*` package's `operations` interface to
/// `path` as `{"<adaptor>": {"interface": docs, "operations": {"<wit name>": docs}}}`,
/// for `adaptor-host docs`: a component keeps no WIT docs, so they come from here.
fn write_docs(wit: &Path, path: &Path) {
    let mut resolve = wit_parser::Resolve {
        all_features: true,
        ..Default::default()
    };
    resolve
        .push_dir(wit)
        .unwrap_or_else(|e| panic!("cannot read the WIT in {}: {e:#}", wit.display()));
    let mut docs = serde_json::Map::new();
    for (_, package) in &resolve.packages {
        if package.name.namespace != "openfn" {
            continue;
        }
        let Some(interface) = package.interfaces.get("operations").map(|id| &resolve.interfaces[*id]) else {
            continue;
        };
        let operations: serde_json::Map<String, serde_json::Value> = interface
            .functions
            .iter()
            .map(|(name, function)| (name.clone(), function.docs.contents.clone().unwrap_or_default().into()))
            .collect();
        docs.insert(
            package.name.name.clone(),
            serde_json::json!({"interface": interface.docs.contents.clone().unwrap_or_default(), "operations": operations}),
        );
    }
    std::fs::write(path, serde_json::Value::Object(docs).to_string()).expect("writing docs.json");
}

/// Prints `rerun-if-changed` for each file in a dep-info file that lies in the
/// repository (sources, WIT files, manifests), not in the cargo registry.
fn rerun_if_deps_change(dep_info: &Path, adaptors: &Path) {
    let text = std::fs::read_to_string(dep_info).unwrap_or_else(|e| panic!("cannot read {}: {e}", dep_info.display()));
    let repo = adaptors.parent().expect("adaptors/ has a parent");
    let Some((_, deps)) = text.split_once(": ") else {
        return;
    };
    for dep in deps.split_whitespace() {
        let path = Path::new(dep);
        if path.starts_with(repo) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
