//! `adaptor-host run`: one job, OpenFn CLI style.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::job_args::{JobArgs, parse_object};
use super::{BAD_INPUT, JOB_FAILED, report};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    job: JobArgs,

    /// The initial state, a JSON object. Default: {}.
    #[arg(short, long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Write the output state here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub async fn run(args: RunArgs) -> ExitCode {
    let step_id = args.job.step_id();
    let prepared = args.job.prepare().and_then(|prepared| {
        let state = match &args.state {
            Some(path) => parse_object(path, "state")?,
            None => json!({}),
        };
        Ok((prepared, state))
    });
    let (prepared, state) = match prepared {
        Ok(ready) => ready,
        Err(message) => {
            // Nothing ran; the output still records why.
            let state = json!({"errors": {step_id: {"type": "input", "message": message}}});
            report(&message);
            let _ = write_output(&args.output, &state);
            return ExitCode::from(BAD_INPUT);
        }
    };
    let (output, failure) = prepared.execute(state).await;
    if let Some(message) = &failure {
        report(message);
    }
    match write_output(&args.output, &output) {
        Ok(_) if failure.is_some() => ExitCode::from(JOB_FAILED),
        Ok(code) => code,
        Err(code) => code,
    }
}

/// Writes the state (pretty JSON) to `path` or stdout.
fn write_output(path: &Option<PathBuf>, state: &Value) -> Result<ExitCode, ExitCode> {
    let text = serde_json::to_string_pretty(state).expect("JSON values serialize") + "\n";
    match path {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            report(&format!("cannot write the output state to {}: {e}", path.display()));
            ExitCode::from(BAD_INPUT)
        })?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
