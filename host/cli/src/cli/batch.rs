//! `adaptor-host run JOB --batch FILE`: one job run on many input states in one
//! process, one state per line (JSON Lines), so users and benchmarks need no program.
//!
//! Each line runs through the library's run API in a fresh sandbox, up to
//! `--concurrency` at once (the host's job slots are sized from the same flag), and
//! gets exactly one output line, in input order: the output state, with `errors` when
//! its job failed or the line was not a JSON object. Lines are read as they come (a
//! pipe works) and at most about four times `--concurrency` are read ahead of the
//! output, so memory does not grow with the input. Ctrl-C or SIGTERM cancels the running jobs;
//! every line read so far still gets its output line.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use adaptor_host::{Cancel, Reason};
use serde_json::{Value, json};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{Semaphore, mpsc};
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
    let (mut lines, mut writer) = match open(input, output).await {
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
                    state: error_state(&step_id, "internal", "ExecutionError", "exception", &format!("the job's task failed: {e}")),
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
            got = lines.recv(), if reading && room => match got {
                None => reading = false,
                Some(Ok(text)) => {
                    read += 1;
                    let task = one(Arc::clone(&prepared), Arc::clone(&jobs), cancel.clone(), Arc::clone(&step_id), read, text);
                    queue.push_back(tokio::spawn(task.instrument(tracing::info_span!("line", n = read))));
                }
                Some(Err(e)) => {
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

type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// Opens the batch (`-`: standard input) and the output (standard output by default).
async fn open(input: &Path, output: Option<&Path>) -> Result<(Lines, Writer), String> {
    let reader: Box<dyn BufRead + Send> = if input == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file =
            std::fs::File::open(input).map_err(|e| format!("cannot read the batch file {}: {e}", input.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let writer: Writer = match output {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .map_err(|e| format!("cannot write the output to {}: {e}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    Ok((read_lines(reader), writer))
}

/// The lines of the batch, each with its newline, as they are read.
type Lines = mpsc::Receiver<std::io::Result<Vec<u8>>>;

/// Reads `input` line by line on a thread of its own, a line ahead of what was taken:
/// a read of standard input that never returns (a producer that stays silent) must
/// not hold up the exit, as it would on the async runtime's blocking threads.
fn read_lines(mut input: Box<dyn BufRead + Send>) -> Lines {
    let (lines, receiver) = mpsc::channel(1);
    std::thread::spawn(move || {
        loop {
            let mut line = Vec::new();
            let read = match input.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => Ok(line),
                Err(e) => Err(e),
            };
            let failed = read.is_err();
            if lines.blocking_send(read).is_err() || failed {
                return;
            }
        }
    });
    receiver
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
    error_state(step_id, "input", "InputError", "crash", message)
}

/// A state holding only `errors.<step_id>`, in the run API's shape.
fn error_state(step_id: &str, kind: &str, name: &str, severity: &str, message: &str) -> Value {
    json!({"errors": {step_id: {"type": kind, "name": name, "severity": severity, "message": message}}})
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
