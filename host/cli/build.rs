//! Passes the test-only probe components, which the library's build script builds with
//! the adaptors, to this package's integration tests as `PROBE_WASM` and
//! `FS_PROBE_WASM` (cargo's `links` metadata: `DEP_ADAPTOR_HOST_GUESTS_*`).

fn main() {
    for name in ["PROBE_WASM", "FS_PROBE_WASM"] {
        let var = format!("DEP_ADAPTOR_HOST_GUESTS_{name}");
        let path = std::env::var(&var).unwrap_or_else(|_| panic!("the adaptor-host library's build sets {var}"));
        println!("cargo:rustc-env={name}={path}");
    }
}
