//! `adaptor-host run`: one job or workflow, OpenFn CLI style, through the library's
//! run API (or many runs of it with `--batch`, see `batch`). Ctrl-C or SIGTERM cancels
//! the run: the state reached so far is still written, and the exit status is 130.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::job_args::{JobArgs, parse_object};
use adaptor_host::{Cancel, Reason};

use super::{BAD_INPUT, CANCELLED, JOB_FAILED, report, terminated};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    job: JobArgs,

    /// The initial state, a JSON object. Default: {}.
    #[arg(short, long, value_name = "FILE", conflicts_with = "state_stdin")]
    state: Option<PathBuf>,

    /// Run the job once per line of this file (`-`: standard input), each line an input
    /// state (a JSON object), each run in a fresh sandbox, up to --concurrency at once.
    /// Writes one output state per line, compact and in input order, to -o or stdout; a
    /// line that failed or is not a JSON object gets its `errors` there. Exit status 1 if
    /// any line failed.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["state", "state_stdin"])]
    batch: Option<PathBuf>,

    /// Read the initial state from standard input.
    #[arg(short = 'S', long = "state-stdin")]
    state_stdin: bool,

    /// Write the output state here instead of stdout.
    #[arg(short, long, value_name = "FILE", conflicts_with = "output_stdout")]
    output: Option<PathBuf>,

    /// Write the output state to standard output (the default without -o).
    #[arg(short = 'O', long = "output-stdout")]
    output_stdout: bool,
}

impl RunArgs {
    /// Whether this is a batch (`--batch`): many jobs, run concurrently.
    pub(crate) fn is_batch(&self) -> bool {
        self.batch.is_some()
    }
}

pub async fn run(args: RunArgs) -> ExitCode {
    let step_id = args.job.step_id();
    if let Some(batch) = &args.batch {
        return match args.job.prepare() {
            Ok(prepared) => super::batch::run(prepared, &step_id, batch, args.output.as_deref()).await,
            Err(message) => {
                // Nothing ran, and no line has an output line.
                report(&message);
                ExitCode::from(BAD_INPUT)
            }
        };
    }
    let prepared = args.job.prepare().and_then(|prepared| {
        let state = match &args.state {
            Some(path) => parse_object(path, "state")?,
            None if args.state_stdin => {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .map_err(|e| format!("cannot read the state from standard input: {e}"))?;
                match serde_json::from_str::<Value>(&text) {
                    Ok(value @ Value::Object(_)) => value,
                    Ok(_) => return Err("the state on standard input must be a JSON object".to_string()),
                    Err(e) => return Err(format!("the state on standard input is not valid JSON: {e}")),
                }
            }
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
    let cancel = Cancel::new();
    let signals = tokio::spawn(cancel_on_signal(cancel.clone()));
    let outcome = prepared.execute(&step_id, state, &cancel).await;
    signals.abort();
    let reason = outcome.report.reason;
    if let Some(message) = &outcome.report.error_message {
        report(&format!("{reason}: {message}"));
    }
    match write_output(&args.output, &outcome.state.into_value()) {
        Ok(_) if reason == Reason::Cancel => ExitCode::from(CANCELLED),
        Ok(_) if reason != Reason::Success => ExitCode::from(JOB_FAILED),
        Ok(code) => code,
        Err(code) => code,
    }
}

/// Cancels the run on Ctrl-C (SIGINT) or SIGTERM.
async fn cancel_on_signal(cancel: Cancel) {
    terminated().await;
    report("cancelling the run: the state reached so far will be written");
    cancel.cancel();
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
