//! `adaptor-host docs`: an adaptor's configuration fields and operations, with the
//! documentation the component carries.

use std::process::ExitCode;

use adaptor_host::{Host, HostOptions};

use super::{BAD_INPUT, report};

#[derive(Debug, clap::Args)]
pub struct DocsArgs {
    /// A built-in adaptor (`openlmis`, `opencrvs`, or OpenFn's package name) or the
    /// path of a `.wasm` adaptor component.
    adaptor: String,

    /// One operation (its job name, e.g. `getAll`). Default: the configuration and all
    /// operations.
    operation: Option<String>,
}

pub async fn docs(args: DocsArgs) -> ExitCode {
    let fail = |message: String| {
        report(&message);
        ExitCode::from(BAD_INPUT)
    };
    let host = match Host::new(HostOptions::default()) {
        Ok(host) => host,
        Err(e) => return fail(e.to_string()),
    };
    let adaptor = match host.load_named(&args.adaptor) {
        Ok(adaptor) => adaptor,
        Err(e) => return fail(e.to_string()),
    };
    let docs = adaptor.docs();
    let selected: Vec<_> = match &args.operation {
        Some(name) => match adaptor.operation(name) {
            Ok(op) => vec![op],
            Err(e) => return fail(e.to_string()),
        },
        None => {
            println!(
                "{} ({})\n\n{}\n",
                adaptor.name(),
                adaptor.interface(),
                docs.interface.trim()
            );
            let declaration = match adaptor.declaration().await {
                Ok(declaration) => declaration,
                Err(e) => return fail(e.to_string()),
            };
            println!("Configuration:");
            for field in &declaration.fields {
                let mut traits = vec![field.kind.name()];
                traits.push(if field.required { "required" } else { "optional" });
                if field.secret {
                    traits.push("secret");
                }
                println!("  {} ({})\n      {}", field.name, traits.join(", "), field.description);
            }
            println!("\nOperations:\n");
            adaptor.operations().iter().collect()
        }
    };
    for op in selected {
        let text = docs.operations.get(&op.wit_name).map_or("", String::as_str);
        println!("{}\n", op.signature());
        for line in text.trim().lines() {
            println!("    {line}");
        }
        println!();
    }
    ExitCode::SUCCESS
}
