//! Issue 11's one benchmark: every performance target of the host, each measured in
//! the same run as its baseline, printed as one table.
//!
//! Run with `cargo bench --bench performance` (a row's name as an argument runs only
//! the rows whose key contains it: `cargo bench --bench performance -- concurrent`).
//! Everything runs against the loopback simulators; the baselines are plain Rust
//! clients (hyper, HTTP/1.1, keep-alive) making the same requests. Ratios compare
//! numbers measured side by side in this run, so they hold on a busy machine where the
//! absolute numbers do not. docs/PERFORMANCE.md explains each row.
//!
//! The binary is also its own child process for two rows: `raw-client ADDR` is the
//! plain client's cold process (log in, one GET, print the body), and `hold-jobs ...`
//! runs 1,000 concurrent jobs in a fresh process whose peak memory is then its own.

#[allow(dead_code, reason = "each benchmark uses part of the shared code")]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adaptor_host::events::JobLog;
use adaptor_host::{Host, HostOptions, Job, Limits, Policy, RunOptions, Session, run_job};
use common::{Conn, median, micros, ms, openlmis_configuration, percentile};
use serde_json::{Value, json};
use simulators::openlmis::{DEMO_ORDERABLE_COUNT, Fault, Simulator};

/// Sandboxes timed for the overhead row, after as many warm-up ones.
const OVERHEAD_JOBS: usize = 2_000;
/// Jobs per round of the sequential row, and its rounds.
const SEQUENTIAL_JOBS: usize = 200;
const ROUNDS: usize = 3;
/// Task counts of the concurrency rows, and how long each side runs at each.
const TASKS: [usize; 3] = [1, 8, 64];
const WINDOW: Duration = Duration::from_secs(1);
/// Rounds of the paging row; pages of this size.
const PAGING_ROUNDS: usize = 5;
const PAGE_SIZE: usize = 100;
/// Jobs held open at once by the slow server, and for how long it holds each.
const HELD_JOBS: usize = 1_000;
const HOLD: Duration = Duration::from_secs(3);
/// Cold processes started per side for the cold-start row.
const COLD_RUNS: usize = 10;

/// The adaptor-host binary built with this benchmark.
const CLI: &str = env!("CARGO_BIN_EXE_adaptor-host");

fn main() {
    // `cargo bench` passes `--bench`; anything else selects rows or a child mode.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.first().map(String::as_str) {
        Some("raw-client") => return raw_client(&args[1]),
        Some("hold-jobs") => return hold_jobs(&args[1], &args[2], args[3].parse().expect("a job count")),
        _ => {}
    }
    let selected = |key: &str| args.is_empty() || args.iter().any(|a| key.contains(a.as_str()));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let rows = runtime.block_on(measure(&selected));
    print_table(&rows);
}

/// One line of the table.
struct Row {
    what: String,
    host: String,
    baseline: String,
    ratio: String,
    target: String,
    /// `None`: a row without a target.
    met: Option<bool>,
}

impl Row {
    fn cells(&self) -> [&str; 5] {
        [&self.what, &self.host, &self.baseline, &self.ratio, &self.target]
    }

    fn info(what: impl Into<String>, host: String, baseline: String, ratio: String) -> Row {
        Row {
            what: what.into(),
            host,
            baseline,
            ratio,
            target: "-".into(),
            met: None,
        }
    }
}

async fn measure(selected: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let sim = Simulator::start();
    let host = Arc::new(
        Host::new(HostOptions {
            max_concurrent_jobs: 64,
            ..HostOptions::default()
        })
        .expect("a host"),
    );
    let mut rows = Vec::new();
    if selected("overhead") {
        rows.extend(overhead(&host).await);
    }
    if selected("cold-cli") {
        rows.extend(cold_cli(&sim));
    }
    if selected("sequential") {
        rows.push(sequential(&host, &sim).await);
    }
    if selected("concurrent") {
        rows.extend(concurrent(&host, &sim).await);
    }
    if selected("paging") {
        rows.push(paging(&host, &sim).await);
    }
    if selected("memory") {
        rows.push(memory().await);
    }
    rows
}

/// A fresh store and instance of the probe adaptor and one operation that sends
/// nothing (`allocate(0)`), dropped; then the same as a whole JSON job (`run_job`:
/// configuration check, masking, `configure`, the state composed and cleaned).
async fn overhead(host: &Host) -> Vec<Row> {
    let probe = host.load_file(Path::new(env!("PROBE_WASM"))).expect("the probe loads");
    let limits = Limits::default();
    let mut sandbox = Vec::with_capacity(OVERHEAD_JOBS);
    for i in 0..2 * OVERHEAD_JOBS {
        let started = Instant::now();
        let mut session = Session::start(host, &probe, &limits, Policy::new(Vec::new()), JobLog::default())
            .await
            .expect("a sandbox");
        session.call("allocate", &[json!(0)]).await.expect("allocate(0)");
        drop(session);
        if i >= OVERHEAD_JOBS {
            sandbox.push(started.elapsed());
        }
    }
    let job = Job::parse(r#"[{"allocate": [0]}]"#).expect("a job");
    let mut whole = Vec::with_capacity(OVERHEAD_JOBS);
    for i in 0..2 * OVERHEAD_JOBS {
        let started = Instant::now();
        let outcome = run_job(host, &probe, &job, json!({}), &RunOptions::default()).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        if i >= OVERHEAD_JOBS {
            whole.push(started.elapsed());
        }
    }
    let (p50, p99) = (percentile(sandbox.clone(), 50.0), percentile(sandbox, 99.0));
    vec![
        Row {
            what: "per-job sandbox overhead p50 (store + instance + allocate(0), no network)".into(),
            host: format!("{:.1} µs", micros(p50)),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "<= 20 µs".into(),
            met: Some(p50 <= Duration::from_micros(20)),
        },
        Row::info(
            "per-job sandbox overhead p99",
            format!("{:.1} µs", micros(p99)),
            "-".into(),
            "-".into(),
        ),
        Row::info(
            "the same as a whole JSON job (run_job), p50",
            format!("{:.1} µs", micros(median(whole))),
            "-".into(),
            "-".into(),
        ),
    ]
}

/// `adaptor-host run` of a login + GET job as a new process: first with an empty
/// compile cache (the adaptor is compiled), then cached, against the plain client's
/// own cold process making the same two requests.
fn cold_cli(sim: &Simulator) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let job = dir.path().join("job.json");
    std::fs::write(&job, r#"[{"get": ["programs"]}]"#).expect("writing the job");
    let credentials = dir.path().join("credentials.json");
    std::fs::write(&credentials, openlmis_configuration(&sim.base_url()).to_string()).expect("writing credentials");
    let cache = dir.path().join("cache");
    let cli = || {
        let mut command = Command::new(CLI);
        command
            .arg("run")
            .arg(&job)
            .args(["-a", "openlmis", "--credentials"])
            .arg(&credentials)
            .arg("--cache-dir")
            .arg(&cache);
        timed(command)
    };
    let raw = || {
        let mut command = Command::new(std::env::current_exe().expect("this benchmark's path"));
        command.args(["raw-client", &sim.server().addr().to_string()]);
        timed(command)
    };
    let first = cli();
    let (mut cached, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..COLD_RUNS {
        cached.push(cli());
        plain.push(raw());
    }
    let (cached, plain) = (median(cached), median(plain));
    let ratio = ms(cached) / ms(plain);
    vec![
        Row::info(
            "first CLI run of an adaptor (compiles it) vs a cached run",
            format!("{:.0} ms", ms(first)),
            format!("{:.1} ms", ms(cached)),
            format!("{:.1}x", ms(first) / ms(cached)),
        ),
        Row {
            what: format!("cold CLI run, login + GET (median of {COLD_RUNS}) vs plain client's cold process"),
            host: format!("{:.1} ms", ms(cached)),
            baseline: format!("{:.1} ms", ms(plain)),
            ratio: format!("{ratio:.2}x"),
            target: "<= 3x".into(),
            met: Some(ratio <= 3.0),
        },
    ]
}

/// How long `command` takes from spawn to exit; it must succeed.
fn timed(mut command: Command) -> Duration {
    let started = Instant::now();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawning");
    let elapsed = started.elapsed();
    assert!(status.success(), "{command:?}: {status}");
    elapsed
}

/// Child mode: the plain client as a program of its own, cold: log in, one GET, print.
fn raw_client(addr: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let body = runtime.block_on(async {
        let mut conn = Conn::new(addr.parse().expect("an address"), true);
        let token = conn.login().await;
        conn.get("/api/programs", &token).await
    });
    println!("{body}");
}

/// Jobs of a login and a GET each, one after another in one host, against the plain
/// client doing the same two requests per job over one kept-alive connection.
async fn sequential(host: &Host, sim: &Simulator) -> Row {
    let adaptor = host.adaptor("openlmis").expect("openlmis");
    let job = Job::parse(r#"[{"get": ["programs"]}]"#).expect("a job");
    let state = json!({"configuration": openlmis_configuration(&sim.base_url())});
    let (mut hosted, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..SEQUENTIAL_JOBS {
            let outcome = run_job(host, &adaptor, &job, state.clone(), &RunOptions::default()).await;
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
        }
        hosted.push(started.elapsed());
        let started = Instant::now();
        let mut conn = Conn::new(sim.server().addr(), true);
        for _ in 0..SEQUENTIAL_JOBS {
            let token = conn.login().await;
            std::hint::black_box(conn.get("/api/programs", &token).await);
        }
        plain.push(started.elapsed());
    }
    let (hosted, plain) = (median(hosted), median(plain));
    let rate = |d: Duration| SEQUENTIAL_JOBS as f64 / d.as_secs_f64();
    let ratio = hosted.as_secs_f64() / plain.as_secs_f64();
    Row {
        what: format!("sequential jobs in one process, login + GET each ({SEQUENTIAL_JOBS} jobs)"),
        host: format!("{:.0} jobs/s", rate(hosted)),
        baseline: format!("{:.0} /s", rate(plain)),
        ratio: format!("{ratio:.2}x time"),
        target: "<= 1.5x time".into(),
        met: Some(ratio <= 1.5),
    }
}

/// Jobs of one GET each with the token in the configuration (no login), from 1, 8
/// and 64 tasks sharing one host, against as many tasks of the plain client, each
/// with its own kept-alive connection.
async fn concurrent(host: &Arc<Host>, sim: &Simulator) -> Vec<Row> {
    let adaptor = host.adaptor("openlmis").expect("openlmis");
    let token = Conn::new(sim.server().addr(), true).login().await;
    let mut configuration = openlmis_configuration(&sim.base_url());
    configuration["access_token"] = json!(token);
    let state = Arc::new(json!({ "configuration": configuration }));
    let job = Arc::new(Job::parse(r#"[{"get": ["programs"]}]"#).expect("a job"));
    let addr = sim.server().addr();
    let mut rows = Vec::new();
    for tasks in TASKS {
        let (mut hosted, mut plain) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            hosted.push(
                throughput(tasks, |end, done| {
                    let (host, adaptor, job, state) = (
                        Arc::clone(host),
                        Arc::clone(&adaptor),
                        Arc::clone(&job),
                        Arc::clone(&state),
                    );
                    async move {
                        while Instant::now() < end {
                            let outcome =
                                run_job(&host, &adaptor, &job, (*state).clone(), &RunOptions::default()).await;
                            assert!(outcome.error.is_none(), "{:?}", outcome.error);
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .await,
            );
            plain.push(
                throughput(tasks, |end, done| {
                    let token = token.clone();
                    async move {
                        let mut conn = Conn::new(addr, true);
                        while Instant::now() < end {
                            std::hint::black_box(conn.get("/api/programs", &token).await);
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .await,
            );
        }
        let (hosted, plain) = (median_rate(hosted), median_rate(plain));
        let ratio = hosted / plain;
        rows.push(Row {
            what: format!("concurrent jobs, {tasks} task(s), token given, one GET each"),
            host: format!("{hosted:.0} jobs/s"),
            baseline: format!("{plain:.0} /s"),
            ratio: format!("{ratio:.2} of rate"),
            target: ">= 5,000/s, >= 0.5 of rate".into(),
            met: Some(hosted >= 5_000.0 && ratio >= 0.5),
        });
    }
    rows
}

/// Operations per second of `tasks` tasks run for [`WINDOW`]: `task(end, done)` makes
/// one task, which repeats its operation until `end` and counts each in `done`.
async fn throughput<Fut>(tasks: usize, task: impl Fn(Instant, Arc<AtomicUsize>) -> Fut) -> f64
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| tokio::spawn(task(started + WINDOW, Arc::clone(&done))))
        .collect();
    for handle in handles {
        handle.await.expect("a task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median_rate(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// `getAll` of the 10,234 orderables against the plain client paging through them
/// over one kept-alive connection (both log in first).
async fn paging(host: &Host, sim: &Simulator) -> Row {
    let adaptor = host.adaptor("openlmis").expect("openlmis");
    let job =
        Job::parse(&json!([{"getAll": ["orderables", null, {"pageSize": PAGE_SIZE}]}]).to_string()).expect("a job");
    let state = json!({"configuration": openlmis_configuration(&sim.base_url())});
    let (mut hosted, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..PAGING_ROUNDS {
        let started = Instant::now();
        let outcome = run_job(host, &adaptor, &job, state.clone(), &RunOptions::default()).await;
        hosted.push(started.elapsed());
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_eq!(
            outcome.state["data"].as_array().map(Vec::len),
            Some(DEMO_ORDERABLE_COUNT)
        );
        drop(outcome);
        let started = Instant::now();
        let items = Conn::new(sim.server().addr(), true)
            .all_pages("orderables", PAGE_SIZE)
            .await;
        plain.push(started.elapsed());
        assert_eq!(items.len(), DEMO_ORDERABLE_COUNT);
    }
    let (hosted, plain) = (median(hosted), median(plain));
    let ratio = ms(hosted) / ms(plain);
    Row {
        what: format!(
            "getAll, {DEMO_ORDERABLE_COUNT} orderables in {} pages (median of {PAGING_ROUNDS})",
            DEMO_ORDERABLE_COUNT.div_ceil(PAGE_SIZE)
        ),
        host: format!("{:.0} ms", ms(hosted)),
        baseline: format!("{:.0} ms", ms(plain)),
        ratio: format!("{ratio:.2}x time"),
        target: "<= 1.2x time".into(),
        met: Some(ratio <= 1.2),
    }
}

/// 1,000 jobs at once, each held open by the OpenLMIS simulator answering its GET
/// only after [`HOLD`], in a child process: its peak resident memory over its
/// resident memory before the jobs, per job.
async fn memory() -> Row {
    let slow = Simulator::start();
    let token = Conn::new(slow.server().addr(), true).login().await;
    slow.inject(HELD_JOBS, Fault::Delay(HOLD));
    let output = Command::new(std::env::current_exe().expect("this benchmark's path"))
        .args(["hold-jobs", &slow.base_url(), &token, &HELD_JOBS.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("running the child");
    assert!(output.status.success(), "hold-jobs failed");
    let report: Value = serde_json::from_slice(&output.stdout).expect("the child's report");
    let elapsed = Duration::from_millis(report["elapsedMs"].as_u64().expect("elapsedMs"));
    // Every job waited HOLD; all finishing within 2 * HOLD means all were open at once.
    assert!(elapsed < 2 * HOLD, "the jobs were not all held at once ({elapsed:?})");
    let bytes = |key: &str| report[key].as_u64().expect(key) as f64;
    let per_job = (bytes("peakRss") - bytes("baselineRss")) / HELD_JOBS as f64 / f64::from(1 << 20);
    Row {
        what: format!(
            "peak RSS per concurrent job, {HELD_JOBS} jobs held {} s by the server (guest memory {:.2} MiB)",
            HOLD.as_secs(),
            bytes("guestPeak") / f64::from(1 << 20)
        ),
        host: format!("{per_job:.2} MiB"),
        baseline: "-".into(),
        ratio: "-".into(),
        target: "<= 4 MiB".into(),
        met: Some(per_job <= 4.0),
    }
}

/// Child mode: `jobs` concurrent one-GET jobs against `base_url` with `token`; prints
/// resident memory before them and at the peak (`/proc/self/status`), as JSON.
fn hold_jobs(base_url: &str, token: &str, jobs: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let report = runtime.block_on(async {
        let host = Arc::new(
            Host::new(HostOptions {
                max_concurrent_jobs: u32::try_from(jobs).expect("a job count"),
                ..HostOptions::default()
            })
            .expect("a host"),
        );
        let adaptor = host.adaptor("openlmis").expect("openlmis");
        adaptor.declaration().await.expect("the declaration");
        let job = Arc::new(Job::parse(r#"[{"get": ["programs"]}]"#).expect("a job"));
        let mut configuration = openlmis_configuration(base_url);
        configuration["access_token"] = json!(token);
        let state = json!({ "configuration": configuration });
        // Compiling the adaptor peaked above what is resident now: start the peak here.
        std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS");
        let baseline = proc_status("VmRSS");
        let started = Instant::now();
        let handles: Vec<_> = (0..jobs)
            .map(|_| {
                let (host, adaptor, job, state) =
                    (Arc::clone(&host), Arc::clone(&adaptor), Arc::clone(&job), state.clone());
                tokio::spawn(async move { run_job(&host, &adaptor, &job, state, &RunOptions::default()).await })
            })
            .collect();
        let mut guest_peak = 0;
        for handle in handles {
            let outcome = handle.await.expect("a job");
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
            guest_peak = guest_peak.max(outcome.stats.peak_memory);
        }
        json!({
            "baselineRss": baseline,
            "peakRss": proc_status("VmHWM"),
            "elapsedMs": started.elapsed().as_millis() as u64,
            "guestPeak": guest_peak,
        })
    });
    println!("{report}");
}

/// A `/proc/self/status` memory field, in bytes.
fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().expect("a size in kB");
    kib * 1024
}

fn print_table(rows: &[Row]) {
    println!(
        "adaptor-host performance (issue 11), {} cores; baselines: plain Rust hyper clients in the same run",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let header = Row {
        what: "measure".into(),
        host: "adaptor-host".into(),
        baseline: "baseline".into(),
        ratio: "ratio".into(),
        target: "target".into(),
        met: None,
    };
    let mut widths = [0usize; 5];
    for row in rows.iter().chain([&header]) {
        for (width, cell) in widths.iter_mut().zip(row.cells()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |r: &Row, verdict: &str| {
        let padded: Vec<String> = r
            .cells()
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        println!("| {} | {verdict} |", padded.join(" | "));
    };
    line(&header, "met?  ");
    println!(
        "|{}|--------|",
        widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|")
    );
    for row in rows {
        line(
            row,
            match row.met {
                Some(true) => "yes   ",
                Some(false) => "MISSED",
                None => "-     ",
            },
        );
    }
}
