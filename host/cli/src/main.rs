//! `adaptor-host`: runs OpenFn-style jobs on sandboxed WebAssembly adaptors.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
