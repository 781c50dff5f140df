//! `adaptor-host list`: the built-in adaptors and their operations.

use std::process::ExitCode;

use adaptor_host::{Host, HostOptions};

use super::{BAD_INPUT, report};

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// An adaptor (built-in name or .wasm path) whose operations to list. Default: all
    /// built-in adaptors.
    adaptor: Option<String>,
}

pub fn list(args: ListArgs) -> ExitCode {
    let host = match Host::new(HostOptions::default()) {
        Ok(host) => host,
        Err(e) => {
            report(&e.to_string());
            return ExitCode::from(BAD_INPUT);
        }
    };
    let names: Vec<String> = match args.adaptor {
        Some(name) => vec![name],
        None => adaptor_host::builtin_adaptors().into_iter().map(String::from).collect(),
    };
    for name in names {
        match host.load_named(&name) {
            Ok(adaptor) => {
                println!("{} ({})", adaptor.name(), adaptor.interface());
                for op in adaptor.operations() {
                    println!("  {}", op.signature());
                }
            }
            Err(e) => {
                report(&e.to_string());
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    println!(
        "\nrun by the host in any job: {}",
        adaptor_host::BUILTIN_OPERATIONS.join(", ")
    );
    ExitCode::SUCCESS
}
