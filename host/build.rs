//! Compiles the guest workspace (`adaptors/`) to `wasm32-wasip2` components so that
//! `cargo build`, `cargo run` and `cargo test` need no other step.
//!
//! The pattern is wasmtime's own `crates/test-programs/artifacts/build.rs`: a nested
//! cargo with its own target directory under `OUT_DIR` (sharing the outer one
//! deadlocks on cargo's lock), without the host's rustflags (cargo hands build scripts
//! `CARGO_ENCODED_RUSTFLAGS`, which would leak into the wasm build), and
//! `rerun-if-changed` for every file the guests' dep-info lists.
//!
//! It also reads the WIT once for three things the host and guests must agree on:
//! - each adaptor's operation docs, appended to its component as an `openfn:docs`
//!   custom section, so the docs travel with the `.wasm` (a component loaded from a
//!   path has them too);
//! - the import list of the `openfn:adaptor/base` world, written as the host's
//!   `ALLOWED_IMPORTS`;
//! - a check that the guest kit's bindings map exactly those WASI imports.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The components the build exports as `<NAME>_WASM` paths (the adaptors the binary
/// embeds, and the test-only probes the integration tests load from their paths), with
/// the WIT folder (under the repository) and package whose `operations` docs they carry.
const GUESTS: [(&str, &str, &str); 6] = [
    ("openlmis", "wit", "openlmis"),
    ("opencrvs", "wit", "opencrvs"),
    ("common", "wit", "common"),
    // The JavaScript runtime (not an adaptor: it has no `operations`, so no docs).
    ("js_runtime", "wit", "runtime"),
    ("probe", "adaptors/testing/wit", "probe"),
    ("fs_probe", "adaptors/testing/wit", "probe"),
];

/// The custom section that carries an adaptor's docs (see `host/src/docs.rs`).
const DOCS_SECTION: &str = "openfn:docs";

/// The guest workspace's manifests (dep-info does not list them).
const MANIFESTS: [&str; 9] = [
    "Cargo.toml",
    "Cargo.lock",
    "kit/Cargo.toml",
    "openlmis/Cargo.toml",
    "opencrvs/Cargo.toml",
    "common/Cargo.toml",
    "js-runtime/Cargo.toml",
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
    for (name, wit, package) in GUESTS {
        let wasm = release.join(format!("{name}.wasm"));
        assert!(wasm.exists(), "the guest build did not produce {}", wasm.display());
        let mut bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
        let docs = operation_docs(&resolve(&root.join(wit)), package);
        bytes.push(0); // a custom section
        wasm_encoder::Encode::encode(
            &wasm_encoder::CustomSection {
                name: DOCS_SECTION.into(),
                data: docs.to_string().into_bytes().into(),
            },
            &mut bytes,
        );
        let with_docs = out_dir.join(format!("{name}.wasm"));
        // The cache keys a compiled component by its SHA-256: computed here once, not
        // on every run of the binary.
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&with_docs, bytes).expect("writing a guest with its docs");
        println!("cargo:rustc-env={}_WASM={}", name.to_uppercase(), with_docs.display());
        println!("cargo:rustc-env={}_SHA256={digest}", name.to_uppercase());
        // For dependents' build scripts (`links` metadata): the CLI's tests load the probes.
        println!("cargo:{}_WASM={}", name.to_uppercase(), with_docs.display());
        rerun_if_deps_change(&release.join(format!("{name}.d")), &adaptors);
    }
    for manifest in MANIFESTS {
        println!("cargo:rerun-if-changed={}", adaptors.join(manifest).display());
    }
    let contract = resolve(&root.join("wit"));
    let imports = base_imports(&contract);
    check_kit_bindings(&adaptors.join("kit/src"), &imports);
    let list: Vec<String> = imports.iter().map(|i| format!("{i:?}")).collect();
    std::fs::write(
        out_dir.join("allowed_imports.rs"),
        format!(
            "/// The interfaces an adaptor may import (any version): the imports of the\n\
             /// `openfn:adaptor/base` world, read from the WIT by `build.rs`.\n\
             pub const ALLOWED_IMPORTS: [&str; {}] = [{}];\n",
            list.len(),
            list.join(", ")
        ),
    )
    .expect("writing allowed_imports.rs");
}

/// The WIT under `dir` (its `deps/` included).
fn resolve(dir: &Path) -> wit_parser::Resolve {
    let mut resolve = wit_parser::Resolve {
        all_features: true,
        ..Default::default()
    };
    resolve
        .push_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the WIT in {}: {e:#}", dir.display()));
    resolve
}

/// The imports of `openfn:adaptor/base`, as `namespace:package/interface` without
/// versions.
fn base_imports(resolve: &wit_parser::Resolve) -> Vec<String> {
    let (_, package) = resolve
        .packages
        .iter()
        .find(|(_, p)| p.name.namespace == "openfn" && p.name.name == "adaptor")
        .expect("the WIT has the openfn:adaptor package");
    let world = &resolve.worlds[*package.worlds.get("base").expect("openfn:adaptor has a base world")];
    world
        .imports
        .keys()
        .map(|key| {
            let name = resolve.name_world_key(key);
            name.split('@').next().unwrap_or(&name).to_string()
        })
        .collect()
}

/// Fails the build when the guest kit's bindings (`with:` maps in `kit/src`) do not
/// map exactly the WASI imports of the base world: the kit is checked against the WIT
/// instead of keeping a second list that could drift.
fn check_kit_bindings(kit_src: &Path, imports: &[String]) {
    let mut mapped = std::collections::BTreeSet::new();
    for file in ["lib.rs", "wit.rs"] {
        let path = kit_src.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        for quoted in text.split('"').skip(1).step_by(2) {
            if quoted.starts_with("wasi:") {
                mapped.insert((file, quoted.split('@').next().unwrap_or(quoted).to_string()));
            }
        }
    }
    for file in ["lib.rs", "wit.rs"] {
        let in_file: std::collections::BTreeSet<&String> =
            mapped.iter().filter(|(f, _)| *f == file).map(|(_, i)| i).collect();
        let wanted: std::collections::BTreeSet<&String> = imports.iter().filter(|i| i.starts_with("wasi:")).collect();
        assert!(
            in_file == wanted,
            "adaptors/kit/src/{file} maps the WASI interfaces {in_file:?}, but the openfn:adaptor/base world imports {wanted:?}: update the kit's `with:` map"
        );
    }
}

/// The doc comments of `package`'s `operations` interface as `{"interface": docs,
/// "operations": {"<wit name>": docs}}` (empty when it has none).
fn operation_docs(resolve: &wit_parser::Resolve, package: &str) -> serde_json::Value {
    let interface = resolve
        .packages
        .iter()
        .find(|(_, p)| p.name.namespace == "openfn" && p.name.name == package)
        .and_then(|(_, p)| p.interfaces.get("operations"))
        .map(|id| &resolve.interfaces[*id]);
    let Some(interface) = interface else {
        return serde_json::json!({"interface": "", "operations": {}});
    };
    let operations: serde_json::Map<String, serde_json::Value> = interface
        .functions
        .iter()
        .map(|(name, function)| (name.clone(), function.docs.contents.clone().unwrap_or_default().into()))
        .collect();
    serde_json::json!({"interface": interface.docs.contents.clone().unwrap_or_default(), "operations": operations})
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
