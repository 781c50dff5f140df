//! `worker:queue`: the join announcing capacity, and `claim`.

use serde_json::{Value, json};

use super::check::{Fields, kind};
use super::socket::{AfterSend, Answer, Ctx};
use super::{RunState, World, token};

/// `phx_join` on `worker:queue` with `{capacity, queues}`.
pub(crate) fn join(w: &mut World, ctx: &Ctx, join_ref: Option<&str>, payload: &Value) -> Answer {
    let mut fields = Fields::new(payload);
    fields.only(&["capacity", "queues"]);
    let capacity = match fields.required("capacity") {
        Some(value) => match value.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                fields.error("capacity", format!("must be a positive integer, got {value}"));
                None
            }
        },
        None => None,
    };
    match fields.required("queues") {
        Some(Value::Object(queues)) => {
            let mut slots = 0;
            for (name, value) in queues {
                match value.as_u64() {
                    Some(n) if n > 0 => slots += n,
                    _ => fields.error(
                        "queues",
                        format!("{name:?} must map to a positive slot count, got {value}"),
                    ),
                }
            }
            if queues.is_empty() {
                fields.error("queues", "must name at least one workloop (e.g. {\"manual>*\": 5})");
            } else if let Some(capacity) = capacity
                && fields.ok()
                && slots != capacity
            {
                fields.error("queues", format!("slots add up to {slots}, not to capacity {capacity}"));
            }
        }
        Some(other) => fields.error(
            "queues",
            format!("must be an object of queue lists to slots, got {}", kind(other)),
        ),
        None => {}
    }
    if !fields.ok() {
        return ctx.reject(w, &fields.errors);
    }
    if let Some(entry) = w.sockets.get_mut(&ctx.socket) {
        entry.queue_join_ref = join_ref.map(str::to_string);
        entry.capacity = capacity.unwrap_or_default();
    }
    Answer::ok(json!({}))
}

/// Pushes on a joined `worker:queue`: only `claim`.
pub(crate) fn handle(w: &mut World, ctx: &Ctx, payload: &Value) -> Answer {
    if ctx.event != "claim" {
        return ctx.reject_one(w, "event", format!("worker:queue has no {:?} event", ctx.event));
    }
    w.claims += 1;
    let mut fields = Fields::new(payload);
    fields.only(&["demand", "worker_name", "queues"]);
    let demand = match fields.required("demand") {
        Some(value) => match value.as_u64() {
            Some(n) if n > 0 => n as usize,
            _ => {
                fields.error("demand", format!("must be a positive integer, got {value}"));
                0
            }
        },
        None => 0,
    };
    // Lightning matches on both keys: the name may be null, but must be there.
    fields.nullable_string("worker_name");
    let mut queues = Vec::new();
    match fields.required("queues") {
        Some(Value::Array(items)) if !items.is_empty() => {
            for item in items {
                match item.as_str() {
                    Some(q) => queues.push(q.to_string()),
                    None => fields.error("queues", format!("must hold queue names, got {item}")),
                }
            }
            if let Some(star) = queues.iter().position(|q| q == "*")
                && star + 1 != queues.len()
            {
                fields.error("queues", "\"*\" must come last");
            }
        }
        Some(other) => fields.error(
            "queues",
            format!("must be a non-empty array of queue names, got {other}"),
        ),
        None => {}
    }
    if !fields.ok() {
        return ctx.reject(w, &fields.errors);
    }
    let (worker_id, capacity) = match w.sockets.get(&ctx.socket) {
        Some(entry) => (entry.worker_id.clone(), entry.capacity),
        None => (String::new(), 0),
    };
    let active = w
        .runs
        .iter()
        .filter(|r| r.worker_id.as_deref() == Some(&worker_id) && !r.finished())
        .count() as u64;
    if active + demand as u64 > capacity {
        // Lightning does not check this; a worker that does it overruns its slots.
        let message =
            format!("demand {demand} with {active} runs active exceeds the capacity {capacity} announced at join");
        w.violation(Some(ctx.socket), None, "claim", "demand", &message);
    }
    // Listed queues in their order, then (with "*") any other queue, oldest run first.
    let rank = |queue: &str| -> Option<usize> {
        queues
            .iter()
            .position(|q| q == queue)
            .or_else(|| queues.iter().position(|q| q == "*"))
    };
    let mut candidates: Vec<(usize, usize)> = w
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.state == RunState::Available)
        .filter_map(|(i, r)| rank(&r.queue).map(|rank| (rank, i)))
        .collect();
    candidates.sort();
    let lifetime = w.config.run_token_lifetime_secs;
    let key = w.run_key.clone();
    let mut runs = Vec::new();
    let mut ids = Vec::new();
    for (_, index) in candidates.into_iter().take(demand) {
        let run = &mut w.runs[index];
        let token = token::run_token(&key, &run.id, lifetime);
        run.state = RunState::Claimed;
        run.token = Some(token.clone());
        run.claimed_by = Some((ctx.socket, false));
        run.worker_id = Some(worker_id.clone());
        run.claim_count += 1;
        runs.push(json!({"id": run.id, "token": token}));
        ids.push(run.id.clone());
    }
    let mut answer = Answer::ok(json!({ "runs": runs }));
    answer.after = AfterSend::Claimed(ids);
    answer
}
