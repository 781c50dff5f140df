//! `adaptor-host docs`: an adaptor's operations with their WIT documentation.

use std::process::ExitCode;

use adaptor_host::{Host, HostOptions};

use super::{BAD_INPUT, report};

#[derive(Debug, clap::Args)]
pub struct DocsArgs {
    /// A built-in adaptor (`openlmis`, `opencrvs`, or OpenFn's package name).
    adaptor: String,

    /// One operation (its job name, e.g. `getAll`). Default: all of them.
    operation: Option<String>,
}

pub fn docs(args: DocsArgs) -> ExitCode {
    let fail = |message: String| {
        report(&message);
        ExitCode::from(BAD_INPUT)
    };
    let host = match Host::new(HostOptions::default()) {
        Ok(host) => host,
        Err(e) => return fail(e.to_string()),
    };
    let adaptor = match host.load_builtin(&args.adaptor) {
        Ok(adaptor) => adaptor,
        Err(e) => return fail(e.to_string()),
    };
    let (about, operations) = adaptor_host::builtin_docs(&args.adaptor).unwrap_or_default();
    let selected: Vec<_> = match &args.operation {
        Some(name) => match adaptor.operation(name) {
            Ok(op) => vec![op],
            Err(e) => return fail(e.to_string()),
        },
        None => {
            println!("{} ({})\n\n{}\n", adaptor.name(), adaptor.interface(), about.trim());
            adaptor.operations().iter().collect()
        }
    };
    for op in selected {
        let text = operations
            .iter()
            .find(|(name, _)| *name == op.wit_name)
            .map_or("", |(_, text)| text.as_str());
        println!("{}\n", op.signature());
        for line in text.trim().lines() {
            println!("    {line}");
        }
        println!();
    }
    ExitCode::SUCCESS
}
