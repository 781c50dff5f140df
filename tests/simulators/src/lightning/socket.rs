//! The websocket: the connect check, then one task per socket that reads frames,
//! routes them to channels and writes replies (some later, from timers) in order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::phoenix::{self, Incoming};
use super::{Connection, Fault, Received, Shared, SocketEntry, World, queue, run, token};

/// What the socket task is asked to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Write a frame, then do something now that it is delivered.
    Frame(Message, AfterSend),
    /// Drop the socket (the reason is recorded).
    Close(&'static str),
}

/// What a written frame completes.
#[derive(Debug, Clone)]
pub(crate) enum AfterSend {
    Nothing,
    /// The reply to run event `reference` on run `run` is out.
    Replied {
        run: String,
        reference: String,
    },
    /// A claim reply handing out these runs is out.
    Claimed(Vec<String>),
}

pub(crate) type Tx = mpsc::UnboundedSender<Out>;

/// A reply's body.
#[derive(Debug)]
pub(crate) enum Body {
    Json(Value),
    Binary(Vec<u8>),
}

/// A handler's answer to a push.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) ok: bool,
    pub(crate) body: Body,
    pub(crate) after: AfterSend,
}

impl Answer {
    pub(crate) fn ok(response: Value) -> Answer {
        Answer {
            ok: true,
            body: Body::Json(response),
            after: AfterSend::Nothing,
        }
    }

    pub(crate) fn error(response: Value) -> Answer {
        Answer {
            ok: false,
            body: Body::Json(response),
            after: AfterSend::Nothing,
        }
    }
}

/// Where a push came from, for handlers and violation records.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) socket: u64,
    pub(crate) topic: String,
    pub(crate) event: String,
}

impl Ctx {
    /// The run of a `run:<id>` topic.
    pub(crate) fn run(&self) -> Option<&str> {
        self.topic.strip_prefix("run:")
    }

    /// Records each error as a violation and answers with them as a changeset error.
    pub(crate) fn reject(&self, world: &mut World, errors: &[(String, String)]) -> Answer {
        for (field, message) in errors {
            world.violation(Some(self.socket), self.run(), &self.event, field, message);
        }
        Answer::error(phoenix::changeset_errors(errors))
    }

    /// [`Ctx::reject`] with one error.
    pub(crate) fn reject_one(&self, world: &mut World, field: &str, message: impl Into<String>) -> Answer {
        self.reject(world, &[(field.to_string(), message.into())])
    }
}

/// The events a worker sends one at a time on a run channel.
pub(crate) const RUN_EVENTS: [&str; 5] = ["run:start", "run:log", "step:start", "step:complete", "run:complete"];

/// `GET /worker/websocket`: the token and serializer checks, then the upgrade.
pub(crate) async fn connect(
    State(world): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let (secret, max_frame) = {
        let world = world.lock().expect("world");
        (world.config.secret.clone(), world.config.max_frame_bytes)
    };
    let claims = match query.get("token").map(|t| token::verify_worker(&secret, t)) {
        None => {
            let why = "no token in the query";
            world
                .lock()
                .expect("world")
                .violation(None, None, "connect", "token", why);
            return (StatusCode::UNAUTHORIZED, why).into_response();
        }
        Some(Err(why)) => {
            world
                .lock()
                .expect("world")
                .violation(None, None, "connect", "token", &why);
            return (StatusCode::UNAUTHORIZED, why).into_response();
        }
        Some(Ok(claims)) => claims,
    };
    if query.get("vsn").map(String::as_str) != Some("2.0.0") {
        world.lock().expect("world").violation(
            None,
            None,
            "connect",
            "vsn",
            "vsn=2.0.0 (the V2 JSON serializer) is required",
        );
        return (StatusCode::BAD_REQUEST, "vsn=2.0.0 is required").into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let worker_id = claims["worker_id"].as_str().unwrap_or_default().to_string();
    // Registered before the 101 goes out, so a worker that sees its socket open finds
    // it counted.
    let (tx, rx) = mpsc::unbounded_channel();
    let id = {
        let mut w = world.lock().expect("world");
        let id = w.connections.len() as u64 + 1;
        for key in ["api_version", "worker_version"] {
            if !query.contains_key(key) {
                let why = "missing from the query (Lightning stores it)";
                w.violation(Some(id), None, "connect", key, why);
            }
        }
        w.connections.push(Connection {
            id,
            worker_id: worker_id.clone(),
            api_version: query.get("api_version").cloned(),
            worker_version: query.get("worker_version").cloned(),
            open: true,
            closed: None,
        });
        let entry = SocketEntry {
            tx: tx.clone(),
            worker_id,
            queue_join_ref: None,
            capacity: 0,
        };
        w.sockets.insert(id, entry);
        id
    };
    let failed = Arc::clone(&world);
    upgrade
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .on_failed_upgrade(move |_| closed(&failed, id, "upgrade failed"))
        .on_upgrade(move |socket| serve(world, socket, id, tx, rx))
}

/// One socket, from upgrade to close.
async fn serve(world: Shared, mut socket: WebSocket, id: u64, tx: Tx, mut rx: mpsc::UnboundedReceiver<Out>) {
    let idle = world.lock().expect("world").config.idle_timeout;
    // Topics joined on this socket, with their join_ref.
    let mut channels: HashMap<String, Option<String>> = HashMap::new();
    let mut deadline = tokio::time::Instant::now() + idle;
    let reason = loop {
        tokio::select! {
            biased;
            out = rx.recv() => match out {
                Some(Out::Frame(frame, after)) => {
                    if socket.send(frame).await.is_err() {
                        undelivered(&world, id, after);
                        break "write failed";
                    }
                    delivered(&world, after);
                }
                Some(Out::Close(why)) => break why,
                None => break "closed",
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break "client closed",
                Some(Ok(message)) => {
                    deadline = tokio::time::Instant::now() + idle;
                    match message {
                        Message::Text(text) => {
                            if let Err(why) = on_text(&world, id, &tx, &mut channels, text.as_str()) {
                                break why;
                            }
                        }
                        Message::Binary(_) => {
                            world.lock().expect("world").violation(
                                Some(id), None, "frame", "binary",
                                "workers push text frames; a binary push is not part of the protocol",
                            );
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
                    }
                }
            },
            () = tokio::time::sleep_until(deadline) => {
                let close = CloseFrame { code: close_code::AWAY, reason: "idle timeout".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break "idle timeout";
            }
        }
    };
    drop(socket);
    // Whatever is still queued will never reach the worker.
    rx.close();
    let mut left = Vec::new();
    while let Ok(out) = rx.try_recv() {
        if let Out::Frame(_, after) = out {
            left.push(after);
        }
    }
    for after in left {
        undelivered(&world, id, after);
    }
    closed(&world, id, reason);
}

/// Handles one text frame; `Err` drops the socket.
fn on_text(
    world: &Shared,
    socket: u64,
    tx: &Tx,
    channels: &mut HashMap<String, Option<String>>,
    text: &str,
) -> Result<(), &'static str> {
    let mut w = world.lock().expect("world");
    let frame = match phoenix::parse(text) {
        Ok(frame) => frame,
        Err(why) => {
            // Phoenix's serializer raises and the socket process dies.
            w.violation(Some(socket), None, "frame", "frame", &why);
            return Err("malformed frame");
        }
    };
    w.frames.push(Received {
        socket,
        at: Instant::now(),
        join_ref: frame.join_ref.clone(),
        reference: frame.reference.clone(),
        topic: frame.topic.clone(),
        event: frame.event.clone(),
        payload: frame.payload.clone(),
    });
    let ctx = Ctx {
        socket,
        topic: frame.topic.clone(),
        event: frame.event.clone(),
    };
    let fault = w.take_fault(&frame.event);
    if fault == Some(Fault::Disconnect) {
        return Err("fault: disconnect");
    }
    let Some(reference) = frame.reference.clone() else {
        w.violation(
            Some(socket),
            ctx.run(),
            &ctx.event,
            "ref",
            "a push needs a ref to be answered",
        );
        return Ok(());
    };
    let joined = channels.get(&frame.topic) == Some(&frame.join_ref);
    // One run event at a time, each after the previous reply.
    let run_event = joined && ctx.run().is_some() && RUN_EVENTS.contains(&frame.event.as_str());
    let mut answer = None;
    if run_event {
        let run_id = ctx.run().expect("a run topic").to_string();
        if let Some(run) = w.run_mut(&run_id) {
            if let Some(previous) = run.pending.first().cloned() {
                let message = format!("sent before the reply to the previous event (ref {previous}) arrived");
                run.pending.push(reference.clone());
                let mut rejected = ctx.reject_one(&mut w, "ref", message);
                rejected.after = AfterSend::Replied {
                    run: run_id,
                    reference: reference.clone(),
                };
                answer = Some(rejected);
            } else {
                run.pending.push(reference.clone());
            }
        }
    }
    let mut answer = match (answer, fault) {
        (Some(answer), _) => answer,
        (None, Some(Fault::Error)) => Answer::error(json!({"errors": {"simulator": ["injected fault"]}})),
        (None, _) => dispatch(&mut w, &ctx, channels, &frame),
    };
    if run_event && matches!(answer.after, AfterSend::Nothing) {
        answer.after = AfterSend::Replied {
            run: ctx.run().expect("a run topic").to_string(),
            reference: reference.clone(),
        };
    }
    let delay = match fault {
        Some(Fault::Delay(delay)) => delay,
        _ if run_event => w.config.event_reply_delay,
        _ => Duration::ZERO,
    };
    if fault == Some(Fault::NoReply) {
        let event_timeout = w.config.event_timeout;
        drop(w);
        // The reply is lost: a claim is undone; a run event stays pending as long as
        // a worker would wait for it.
        match answer.after {
            AfterSend::Replied { .. } => {
                let (world, after) = (Arc::clone(world), answer.after);
                tokio::spawn(async move {
                    tokio::time::sleep(event_timeout).await;
                    delivered(&world, after);
                });
            }
            after => undelivered(world, socket, after),
        }
        return Ok(());
    }
    drop(w);
    let message = match answer.body {
        Body::Json(response) => phoenix::reply(
            frame.join_ref.as_deref(),
            Some(&reference),
            &frame.topic,
            answer.ok,
            response,
        ),
        Body::Binary(bytes) => phoenix::binary_reply(frame.join_ref.as_deref(), Some(&reference), &frame.topic, &bytes),
    };
    let out = Out::Frame(message, answer.after);
    if delay.is_zero() {
        let _ = tx.send(out);
    } else {
        let (world, tx) = (Arc::clone(world), tx.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(mpsc::error::SendError(Out::Frame(_, after))) = tx.send(out) {
                undelivered(&world, socket, after);
            }
        });
    }
    Ok(())
}

/// Routes a push to its channel.
fn dispatch(w: &mut World, ctx: &Ctx, channels: &mut HashMap<String, Option<String>>, frame: &Incoming) -> Answer {
    let unmatched = || Answer::error(json!({"reason": "unmatched topic"}));
    match (frame.topic.as_str(), frame.event.as_str()) {
        ("phoenix", "heartbeat") => Answer::ok(json!({})),
        (_, "phx_join") => {
            if frame.join_ref.is_none() {
                w.violation(
                    Some(ctx.socket),
                    ctx.run(),
                    &ctx.event,
                    "join_ref",
                    "a join needs a join_ref",
                );
                return unmatched();
            }
            let answer = if frame.topic == "worker:queue" {
                queue::join(w, ctx, frame.join_ref.as_deref(), &frame.payload)
            } else if let Some(run_id) = ctx.run() {
                run::join(w, ctx, run_id, &frame.payload)
            } else {
                w.violation(Some(ctx.socket), None, &ctx.event, "topic", "no such topic");
                return unmatched();
            };
            if answer.ok {
                // Joining a joined topic replaces the old channel, as in Phoenix.
                channels.insert(frame.topic.clone(), frame.join_ref.clone());
            }
            answer
        }
        (_, "phx_leave") if channels.get(&frame.topic) == Some(&frame.join_ref) => {
            channels.remove(&frame.topic);
            if frame.topic == "worker:queue" {
                if let Some(entry) = w.sockets.get_mut(&ctx.socket) {
                    entry.queue_join_ref = None;
                }
            } else if let Some(run) = ctx.run().and_then(|id| w.run_mut(id)) {
                run.channel = None;
            }
            Answer::ok(json!({}))
        }
        _ if channels.get(&frame.topic) != Some(&frame.join_ref) => {
            let why = match channels.get(&frame.topic) {
                Some(join_ref) => format!("join_ref {:?} is not the channel's ({join_ref:?})", frame.join_ref),
                None => "pushed on a topic not joined on this socket".to_string(),
            };
            w.violation(Some(ctx.socket), ctx.run(), &ctx.event, "topic", &why);
            unmatched()
        }
        ("worker:queue", _) => queue::handle(w, ctx, &frame.payload),
        _ => match ctx.run() {
            Some(run_id) => run::handle(w, ctx, run_id, &frame.payload),
            None => ctx.reject_one(
                w,
                "event",
                format!("no handler for {:?} on {:?}", frame.event, frame.topic),
            ),
        },
    }
}

/// A frame reached the worker.
fn delivered(world: &Shared, after: AfterSend) {
    let mut w = world.lock().expect("world");
    match after {
        AfterSend::Nothing => {}
        AfterSend::Replied { run, reference } => {
            if let Some(run) = w.run_mut(&run) {
                run.pending.retain(|r| *r != reference);
            }
        }
        AfterSend::Claimed(ids) => {
            for id in ids {
                if let Some(run) = w.run_mut(&id)
                    && let Some((socket, _)) = run.claimed_by
                {
                    run.claimed_by = Some((socket, true));
                }
            }
        }
    }
}

/// A frame will never reach the worker: a claim that was not delivered is undone.
fn undelivered(world: &Shared, socket: u64, after: AfterSend) {
    let AfterSend::Claimed(ids) = after else {
        return;
    };
    let mut w = world.lock().expect("world");
    let mut requeued = false;
    for id in ids {
        if let Some(run) = w.run_mut(&id)
            && run.claimed_by == Some((socket, false))
            && run.state == super::RunState::Claimed
        {
            run.state = super::RunState::Available;
            run.claimed_by = None;
            run.worker_id = None;
            run.token = None;
            requeued = true;
        }
    }
    if requeued {
        w.work_available();
    }
}

/// The socket is gone: its channels close; runs it held are lost unless rejoined.
fn closed(world: &Shared, socket: u64, reason: &str) {
    let mut w = world.lock().expect("world");
    w.sockets.remove(&socket);
    if let Some(connection) = w.connections.iter_mut().find(|c| c.id == socket) {
        connection.open = false;
        connection.closed = Some(reason.to_string());
    }
    let lost_after = w.config.lost_after;
    let mut orphans = Vec::new();
    for run in &mut w.runs {
        let joined_here = run.channel == Some(socket);
        if joined_here {
            run.channel = None;
            run.pending.clear();
        }
        let claimed_here = run.claimed_by.is_some_and(|(s, _)| s == socket);
        let held = matches!(run.state, super::RunState::Claimed | super::RunState::Started);
        if held && (joined_here || claimed_here) && run.channel.is_none() {
            orphans.push((run.id.clone(), run.claim_count));
        }
    }
    drop(w);
    if orphans.is_empty() {
        return;
    }
    let world = Arc::clone(world);
    tokio::spawn(async move {
        tokio::time::sleep(lost_after).await;
        let mut w = world.lock().expect("world");
        for (id, claim_count) in orphans {
            // Still held by that worker (not un-claimed, re-claimed or rejoined since).
            let still_orphaned = w.runs.iter().any(|r| {
                r.id == id
                    && r.claim_count == claim_count
                    && r.channel.is_none()
                    && matches!(r.state, super::RunState::Claimed | super::RunState::Started)
            });
            if still_orphaned {
                w.mark_lost(&id);
            }
        }
    });
}
