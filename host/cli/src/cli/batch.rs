//! `adaptor-host run JOB --batch FILE`: one job run on many input states in one
//! process, one state per line (JSON Lines), so users and benchmarks need no program.
//!
//! Each line runs through the library's run API in a fresh sandbox, up to
//! `--concurrency` at once (the host's job slots are sized from the same flag), and
//! gets exactly one output line, in input order: the output state, with `errors` when
//! its job failed or the line was not a JSON object. Lines are read as they come (a
//! pipe works) and at most four times `--concurrency` are read ahead of the output, so
//! memory does not grow with the input. Ctrl-C or SIGTERM cancels the running jobs;
//! every line read so far still gets its output line.

use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use adaptor_host::{Cancel, Reason};
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::job_args::Prepared;
use super::{BAD_INPUT, CANCELLED, JOB_FAILED, report, terminated};

/// Lines read ahead of the output, per job slot: enough to keep every slot busy behind
/// a slow line, few enough to bound the states held for in-order output.
const READ_AHEAD: usize = 4;

/// How one line ended.
struct Finished {
    /// Its output line's state.
    state: Value,
    succeeded: bool,
}

/// Runs `prepared` on each line of `input` (`-`: standard input) and writes one output
/// line per input line to `output` (standard output when `None`), in input order.
///
/// Exit status: 0 when every job succeeded; 1 when a job failed or a line was not a
/// JSON object; 2 when the batch or the output could not be read or written; 130 when
/// cancelled.
pub async fn run(prepared: Prepared, step_id: &str, input: &Path, output: Option<&Path>) -> ExitCode {
    let (mut reader, mut writer) = match open(input, output).await {
        Ok(opened) => opened,
        Err(message) => {
            report(&message);
            return ExitCode::from(BAD_INPUT);
        }
    };
    let slots = prepared.host.max_concurrent_jobs() as usize;
    let jobs = Arc::new(Semaphore::new(slots));
    let prepared = Arc::new(prepared);
    let step_id: Arc<str> = Arc::from(step_id);
    let cancel = Cancel::new();
    let signal = terminated();
    tokio::pin!(signal);

    let mut queue: VecDeque<JoinHandle<Finished>> = VecDeque::new();
    let mut line = Vec::new();
    let (mut read, mut failed, mut written) = (0usize, 0usize, 0usize);
    let mut reading = true;
    let mut broken = false;
    while reading || !queue.is_empty() {
        let room = queue.len() < slots * READ_AHEAD;
        tokio::select! {
            // Finished lines are written first, in order, as soon as they can be.
            biased;
            ended = async { queue.front_mut().expect("the queue is not empty").await }, if !queue.is_empty() => {
                queue.pop_front();
                let finished = ended.unwrap_or_else(|e| Finished {
                    state: input_error(&step_id, &format!("the job's task failed: {e}")),
                    succeeded: false,
                });
                failed += usize::from(!finished.succeeded);
                if broken {
                    continue;
                }
                let mut text = serde_json::to_string(&finished.state).expect("JSON values serialize");
                text.push('\n');
                let sent = async {
                    writer.write_all(text.as_bytes()).await?;
                    writer.flush().await
                };
                match sent.await {
                    Ok(()) => written += 1,
                    Err(e) => {
                        report(&format!("cannot write the output: {e}; cancelling the batch"));
                        (broken, reading) = (true, false);
                        cancel.cancel();
                    }
                }
            }
            () = &mut signal, if !cancel.is_cancelled() => {
                report("cancelling the batch: every line read so far gets its output line");
                reading = false;
                cancel.cancel();
            }
            // Cancel-safe: a line cut off by another branch is completed by the next call.
            got = reader.read_until(b'\n', &mut line), if reading && room => match got {
                Ok(0) => reading = false,
                Ok(_) => {
                    read += 1;
                    let text = std::mem::take(&mut line);
                    let task = one(Arc::clone(&prepared), Arc::clone(&jobs), cancel.clone(), Arc::clone(&step_id), read, text);
                    queue.push_back(tokio::spawn(task.instrument(tracing::info_span!("line", n = read))));
                }
                Err(e) => {
                    report(&format!("cannot read line {} of the batch {}: {e}", read + 1, input.display()));
                    (broken, reading) = (true, false);
                    cancel.cancel();
                }
            },
        }
    }
    let succeeded = read - failed;
    report(&format!(
        "batch: {read} lines, {succeeded} succeeded, {failed} failed, {written} output lines"
    ));
    if broken {
        ExitCode::from(BAD_INPUT)
    } else if cancel.is_cancelled() {
        ExitCode::from(CANCELLED)
    } else if failed > 0 {
        ExitCode::from(JOB_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

type Reader = Box<dyn AsyncBufRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// Opens the batch (`-`: standard input) and the output (standard output by default).
async fn open(input: &Path, output: Option<&Path>) -> Result<(Reader, Writer), String> {
    let reader: Reader = if input == Path::new("-") {
        Box::new(BufReader::new(tokio::io::stdin()))
    } else {
        let file = tokio::fs::File::open(input)
            .await
            .map_err(|e| format!("cannot read the batch file {}: {e}", input.display()))?;
        Box::new(BufReader::new(file))
    };
    let writer: Writer = match output {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .map_err(|e| format!("cannot write the output to {}: {e}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    Ok((reader, writer))
}

/// Line `number` (its bytes, newline included): parsed, then run once a job slot is
/// free, unless the batch was cancelled first (then the run stops at once and reports
/// `cancel`).
async fn one(
    prepared: Arc<Prepared>,
    jobs: Arc<Semaphore>,
    cancel: Cancel,
    step_id: Arc<str>,
    number: usize,
    text: Vec<u8>,
) -> Finished {
    let input = match parse(number, &text) {
        Ok(input) => input,
        Err(message) => {
            tracing::error!("{message}");
            return Finished {
                state: input_error(&step_id, &message),
                succeeded: false,
            };
        }
    };
    let _slot = tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        slot = jobs.acquire_owned() => Some(slot),
    };
    let outcome = prepared.execute(&format!("line-{number}"), input, &cancel).await;
    Finished {
        succeeded: outcome.report.reason == Reason::Success,
        state: outcome.state.into_value(),
    }
}

/// The input state on line `number`, or why it is not one.
fn parse(number: usize, text: &[u8]) -> Result<Value, String> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    const EXPECTED: &str = "expected a JSON object (one input state per line)";
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("line {number} is empty: {EXPECTED}"));
    }
    match serde_json::from_slice::<Value>(text) {
        Ok(state @ Value::Object(_)) => Ok(state),
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            Err(format!("line {number}: {EXPECTED}, got {kind}"))
        }
        Err(e) => {
            let description = e.to_string();
            let what = description.split(" at line ").next().unwrap_or(&description);
            Err(format!(
                "line {number}, column {}: not valid JSON ({what}): {EXPECTED}",
                e.column()
            ))
        }
    }
}

/// The output of a line that never ran, as the run API records input errors.
fn input_error(step_id: &str, message: &str) -> Value {
    json!({"errors": {step_id: {"type": "input", "name": "InputError", "severity": "crash", "message": message}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_must_hold_one_json_object() {
        assert_eq!(parse(1, b"{\"data\": 1}\r\n"), Ok(json!({"data": 1})));
        assert_eq!(parse(2, b"{}"), Ok(json!({})));
        let errors = [
            (
                3,
                &b"[1, 2]\n"[..],
                "line 3: expected a JSON object (one input state per line), got an array",
            ),
            (
                4,
                b"\"text\"",
                "line 4: expected a JSON object (one input state per line), got a string",
            ),
            (
                5,
                b"  \n",
                "line 5 is empty: expected a JSON object (one input state per line)",
            ),
            (
                6,
                b"{\"data\": [1,\n",
                "line 6, column 12: not valid JSON (EOF while parsing a value): expected a JSON object (one input \
                 state per line)",
            ),
            (
                7,
                b"{} {}",
                "line 7, column 4: not valid JSON (trailing characters): expected a JSON object (one input state \
                 per line)",
            ),
        ];
        for (number, text, message) in errors {
            assert_eq!(parse(number, text).unwrap_err(), message);
        }
    }
}
