//! The Lightning simulator driven by a real websocket client over loopback, as a
//! worker would drive it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use simulators::lightning::{
    Config, Fault, RunSpec, RunState, Simulator, WORKER_ISSUER, decode_binary_reply, linear_plan, sign_worker_claims,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SECRET: &str = "a-worker-secret";
const WAIT: Duration = Duration::from_secs(5);

/// A frame from the server.
#[derive(Debug)]
enum Frame {
    Text(Value),
    Binary(Vec<u8>),
}

/// A minimal Phoenix V2 client.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ref: u64,
    join_refs: HashMap<String, String>,
    /// Server pushes (ref null) seen while waiting for replies.
    pushes: Vec<Value>,
}

impl Client {
    async fn connect(url: &str) -> Result<Client, tungstenite::Error> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Client {
            ws,
            next_ref: 0,
            join_refs: HashMap::new(),
            pushes: Vec::new(),
        })
    }

    async fn worker(sim: &Simulator) -> Client {
        let url = sim.socket_url(&sim.worker_token("ten-donkeys-pump"));
        Client::connect(&url).await.expect("a good token connects")
    }

    fn fresh_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    /// Pushes an event on a joined topic (or `phoenix`); returns its ref.
    async fn push(&mut self, topic: &str, event: &str, payload: Value) -> String {
        let reference = self.fresh_ref();
        let join_ref = self.join_refs.get(topic).cloned();
        let frame = json!([join_ref, reference, topic, event, payload]);
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("sending a frame");
        reference
    }

    async fn next_frame(&mut self) -> Frame {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within 5 s")
                .expect("the socket is open")
                .expect("a websocket message");
            match message {
                Message::Text(text) => return Frame::Text(serde_json::from_str(text.as_str()).expect("JSON")),
                Message::Binary(bytes) => return Frame::Binary(bytes.to_vec()),
                _ => {}
            }
        }
    }

    /// Waits for the reply to `reference`: (status, response). Binary replies come
    /// back as status `binary` with the decoded payload parsed as JSON.
    async fn reply(&mut self, reference: &str) -> (String, Value) {
        loop {
            match self.next_frame().await {
                Frame::Text(frame) if frame[1] == reference => {
                    assert_eq!(frame[3], "phx_reply", "{frame}");
                    let status = frame[4]["status"].as_str().expect("a status").to_string();
                    return (status, frame[4]["response"].clone());
                }
                Frame::Text(frame) if frame[1].is_null() => self.pushes.push(frame),
                Frame::Text(frame) => panic!("a reply to another ref while waiting for {reference}: {frame}"),
                Frame::Binary(bytes) => {
                    let reply = decode_binary_reply(&bytes).expect("a binary reply");
                    assert_eq!(reply.reference, reference);
                    let payload = serde_json::from_slice(&reply.payload).expect("a JSON payload");
                    return ("binary".into(), payload);
                }
            }
        }
    }

    async fn call(&mut self, topic: &str, event: &str, payload: Value) -> (String, Value) {
        let reference = self.push(topic, event, payload).await;
        self.reply(&reference).await
    }

    async fn join(&mut self, topic: &str, payload: Value) -> (String, Value) {
        let reference = self.fresh_ref();
        self.join_refs.insert(topic.to_string(), reference.clone());
        let frame = json!([reference, reference, topic, "phx_join", payload]);
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("sending a join");
        self.reply(&reference).await
    }

    async fn join_queue(&mut self, capacity: u64) {
        let (status, _) = self
            .join(
                "worker:queue",
                json!({"capacity": capacity, "queues": {"manual>*": capacity}}),
            )
            .await;
        assert_eq!(status, "ok");
    }

    async fn claim(&mut self, demand: u64) -> Vec<Value> {
        let payload = json!({"demand": demand, "worker_name": null, "queues": ["manual", "*"]});
        let (status, response) = self.call("worker:queue", "claim", payload).await;
        assert_eq!(status, "ok", "{response}");
        response["runs"].as_array().expect("runs").clone()
    }

    /// Claims one run and joins its channel; returns the run id.
    async fn claim_and_join(&mut self) -> String {
        let runs = self.claim(1).await;
        assert_eq!(runs.len(), 1, "one run claimed");
        let id = runs[0]["id"].as_str().expect("an id").to_string();
        let (status, _) = self
            .join(&format!("run:{id}"), json!({"token": runs[0]["token"]}))
            .await;
        assert_eq!(status, "ok");
        id
    }
}

fn now_micros() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    now.as_micros().to_string()
}

fn uuid() -> String {
    // Unique enough for ids within a test, in UUID form.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn two_step_plan() -> Value {
    let mut plan = linear_plan(&[
        ("job-1", "@openfn/language-http@7.2.0", "get('/x')"),
        ("job-2", "@openfn/language-common@2.1.1", "fn(s => s)"),
    ]);
    plan["jobs"][0]["credential_id"] = json!("cred-1");
    plan
}

fn sim_with(config: impl FnOnce(&mut Config)) -> Simulator {
    let mut c = Config::new(SECRET);
    config(&mut c);
    Simulator::with_config(c)
}

/// A started run of `two_step_plan`, joined: (client, run id, topic).
async fn started_run(sim: &Simulator) -> (Client, String, String) {
    started_run_of(sim, two_step_plan()).await
}

/// A started run of `plan`, joined: (client, run id, topic).
async fn started_run_of(sim: &Simulator, plan: Value) -> (Client, String, String) {
    sim.enqueue(RunSpec::new(plan, json!({"data": {}})).credential("cred-1", json!({"baseUrl": "x"})));
    let mut client = Client::worker(sim).await;
    client.join_queue(1).await;
    let id = client.claim_and_join().await;
    let topic = format!("run:{id}");
    let start = json!({"versions": {"worker": "0.1.0"}, "timestamp": now_micros()});
    assert_eq!(client.call(&topic, "run:start", start).await.0, "ok");
    (client, id, topic)
}

fn connect_status(result: Result<Client, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("not an HTTP refusal: {other}"),
        Ok(_) => panic!("the connection was accepted"),
    }
}

#[tokio::test]
async fn a_good_token_connects_and_bad_ones_get_401() {
    let sim = Simulator::start(SECRET);
    let client = Client::worker(&sim).await;
    assert_eq!(sim.connected(), 1);
    assert_eq!(sim.connections()[0].worker_id, "ten-donkeys-pump");
    assert_eq!(sim.connections()[0].worker_version.as_deref(), Some("1.25.0"));

    let wrong_secret = simulators::lightning::worker_token("another-secret", "w");
    assert_eq!(
        connect_status(Client::connect(&sim.socket_url(&wrong_secret)).await),
        401
    );
    let wrong_issuer = sign_worker_claims(SECRET, &json!({"worker_id": "w", "iat": 1, "iss": "Lightning"}));
    assert_eq!(
        connect_status(Client::connect(&sim.socket_url(&wrong_issuer)).await),
        401
    );
    let no_worker_id = sign_worker_claims(SECRET, &json!({"iat": 1, "iss": WORKER_ISSUER}));
    assert_eq!(
        connect_status(Client::connect(&sim.socket_url(&no_worker_id)).await),
        401
    );
    let missing = format!("{}/websocket?api_version=1.2&vsn=2.0.0", sim.url());
    assert_eq!(connect_status(Client::connect(&missing).await), 401);
    let v1 = sim.socket_url(&sim.worker_token("w")).replace("vsn=2.0.0", "vsn=1.0.0");
    assert_eq!(connect_status(Client::connect(&v1).await), 400);
    drop(client);
}

#[tokio::test]
async fn join_and_claim_hand_out_enqueued_runs_up_to_demand() {
    let sim = Simulator::start(SECRET);
    let mut client = Client::worker(&sim).await;
    client.join_queue(3).await;
    let a = sim.enqueue(RunSpec::new(two_step_plan(), json!({})));
    let b = sim.enqueue(RunSpec::new(two_step_plan(), json!({})).queue("manual"));
    let fast = sim.enqueue(RunSpec::new(two_step_plan(), json!({})).queue("fast_lane"));

    // Only fast_lane: the two others are filtered out.
    let payload = json!({"demand": 3, "worker_name": "pod-1", "queues": ["fast_lane"]});
    let (status, response) = client.call("worker:queue", "claim", payload).await;
    assert_eq!(status, "ok");
    assert_eq!(response["runs"].as_array().expect("runs").len(), 1);
    assert_eq!(response["runs"][0]["id"], fast.as_str());
    assert!(
        response["runs"][0]["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );

    // manual first, then the rest.
    let runs = client.claim(1).await;
    assert_eq!(runs[0]["id"], b.as_str());
    let runs = client.claim(1).await;
    assert_eq!(runs[0]["id"], a.as_str());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    // A fourth claim with the three runs active exceeds capacity 3: answered (empty,
    // as Lightning would) but recorded.
    assert!(client.claim(1).await.is_empty());
    assert_eq!(sim.violations().len(), 1);
    assert_eq!(sim.violations()[0].field, "demand");
    assert_eq!(sim.claims(), 4);
    assert!(sim.claimed_twice().is_empty());
    // Each enqueue pushed work-available on the joined queue.
    let available = client.pushes.iter().filter(|p| p[3] == "work-available").count();
    assert_eq!(available, 3, "{:?}", client.pushes);
    assert_eq!(sim.run_state(&a), Some(RunState::Claimed));
}

#[tokio::test]
async fn run_join_needs_the_claimed_token() {
    let sim = Simulator::start(SECRET);
    let id = sim.enqueue(RunSpec::new(two_step_plan(), json!({})));
    let mut client = Client::worker(&sim).await;
    client.join_queue(1).await;
    let runs = client.claim(1).await;
    let (status, response) = client.join(&format!("run:{id}"), json!({"token": "x.y.z"})).await;
    assert_eq!(
        (status.as_str(), response),
        ("error", json!({"reason": "unauthorized"}))
    );
    let (status, response) = client.join("run:no-such-run", json!({"token": runs[0]["token"]})).await;
    assert_eq!((status.as_str(), response), ("error", json!({"reason": "not_found"})));
    // A push on the channel that failed to join is an unmatched topic.
    let (status, response) = client.call(&format!("run:{id}"), "fetch:plan", json!({})).await;
    assert_eq!(
        (status.as_str(), response),
        ("error", json!({"reason": "unmatched topic"}))
    );
    assert_eq!(sim.violations().len(), 3);
}

#[tokio::test]
async fn the_happy_path_is_accepted_and_recorded() {
    let sim = Simulator::start(SECRET);
    let input = json!({"data": {"patient": 7}});
    let id =
        sim.enqueue(RunSpec::new(two_step_plan(), input.clone()).credential("cred-1", json!({"baseUrl": "http://x"})));
    let mut c = Client::worker(&sim).await;
    c.join_queue(1).await;
    assert_eq!(c.claim_and_join().await, id);
    let topic = format!("run:{id}");

    let (status, plan) = c.call(&topic, "fetch:plan", json!({})).await;
    assert_eq!(status, "ok");
    assert_eq!(plan["id"], id.as_str());
    assert_eq!(plan["jobs"][1]["adaptor"], "@openfn/language-common@2.1.1");
    assert_eq!(plan["edges"][1]["condition"], "on_job_success");
    assert_eq!(plan["options"]["run_timeout_ms"], 300_000);
    let dataclip_id = plan["dataclip_id"].as_str().expect("a dataclip id").to_string();

    // fetch:dataclip answers with a binary frame laid out as phoenix.js reads it.
    let reference = c.push(&topic, "fetch:dataclip", json!({"id": dataclip_id})).await;
    let Frame::Binary(bytes) = c.next_frame().await else {
        panic!("fetch:dataclip must answer with a binary frame")
    };
    let join_ref = c.join_refs[&topic].clone();
    assert_eq!(bytes[0], 1, "kind: reply");
    assert_eq!(
        &bytes[1..5],
        &[join_ref.len() as u8, reference.len() as u8, topic.len() as u8, 2]
    );
    let reply = decode_binary_reply(&bytes).expect("decodes");
    assert_eq!(
        (reply.join_ref.as_str(), reply.reference.as_str()),
        (join_ref.as_str(), reference.as_str())
    );
    assert_eq!((reply.topic.as_str(), reply.status.as_str()), (topic.as_str(), "ok"));
    assert_eq!(serde_json::from_slice::<Value>(&reply.payload).expect("JSON"), input);

    let (status, credential) = c.call(&topic, "fetch:credential", json!({"id": "cred-1"})).await;
    assert_eq!((status.as_str(), credential), ("ok", json!({"baseUrl": "http://x"})));

    let log = |message: &str, step: Option<&str>| {
        let mut log =
            json!({"run_id": id, "message": [message], "level": "info", "source": "RTE", "timestamp": now_micros()});
        if let Some(step) = step {
            log["step_id"] = json!(step);
            log["source"] = json!("JOB");
        }
        log
    };
    assert_eq!(
        c.call(&topic, "run:log", log("Memory limit: 500mb", None)).await.0,
        "ok"
    );
    let start = json!({"versions": {"worker": "0.1.0", "@openfn/language-http": ["7.2.0"]}, "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "run:start", start).await, ("ok".into(), json!({})));

    let mut upstream = dataclip_id.clone();
    for (n, job) in ["job-1", "job-2"].into_iter().enumerate() {
        let step = uuid();
        let start = json!({"step_id": step, "job_id": job, "timestamp": now_micros(), "input_dataclip_id": upstream});
        assert_eq!(
            c.call(&topic, "step:start", start).await,
            ("ok".into(), json!({"step_id": step}))
        );
        let (status, response) = c.call(&topic, "run:log", log("hello", Some(&step))).await;
        assert_eq!(status, "ok");
        assert!(response["log_line_id"].is_string());
        let output = uuid();
        let complete = json!({
            "step_id": step, "job_id": job, "reason": "success", "error_type": null, "error_message": null,
            "output_dataclip": json!({"data": {"n": n}}).to_string(), "output_dataclip_id": output,
            "mem": {"job": 40590600, "system": 219729920}, "duration": 567, "thread_id": 2, "timestamp": now_micros(),
        });
        assert_eq!(
            c.call(&topic, "step:complete", complete).await,
            ("ok".into(), json!({"step_id": step}))
        );
        upstream = output;
    }
    let complete = json!({
        "reason": "success", "error_type": null, "error_message": null, "timestamp": now_micros(),
        "final_state": {"data": {"n": 1}}, "final_dataclip_id": upstream,
    });
    assert_eq!(c.call(&topic, "run:complete", complete).await.0, "ok");
    assert_eq!(c.call(&topic, "phx_leave", json!({})).await.0, "ok");

    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let done = sim.completed_within(1, WAIT).await.expect("one run ended");
    assert_eq!(done[0].run, id);
    assert_eq!(done[0].reason, "success");
    assert_eq!(done[0].final_state, Some(json!({"data": {"n": 1}})));
    assert_eq!(done[0].steps.len(), 2);
    assert_eq!(done[0].steps[1].output, Some(json!({"data": {"n": 1}})));
    assert_eq!(sim.run_state(&id), Some(RunState::Finished("success".into())));
    let events = sim.run_events(&id);
    assert_eq!(events.first().map(String::as_str), Some("phx_join"));
    assert_eq!(events.last().map(String::as_str), Some("phx_leave"));
    assert_eq!(events.iter().filter(|e| *e == "step:complete").count(), 2);
}

#[tokio::test]
async fn a_missing_credential_is_not_found() {
    let sim = Simulator::start(SECRET);
    sim.enqueue(RunSpec::new(two_step_plan(), json!({})));
    let mut c = Client::worker(&sim).await;
    c.join_queue(1).await;
    let id = c.claim_and_join().await;
    let (status, response) = c
        .call(&format!("run:{id}"), "fetch:credential", json!({"id": "cred-1"}))
        .await;
    assert_eq!(status, "error");
    assert_eq!(response, json!({"errors": {"id": ["Credential not found!"]}}));
    // Expected by a worker, so not a violation; asking for one no job uses is.
    assert!(sim.violations().is_empty());
    c.call(&format!("run:{id}"), "fetch:credential", json!({"id": "other"}))
        .await;
    assert_eq!(sim.violations().len(), 1);
}

#[tokio::test]
async fn a_step_before_run_start_is_refused_and_recorded() {
    let sim = Simulator::start(SECRET);
    sim.enqueue(RunSpec::new(two_step_plan(), json!({})));
    let mut c = Client::worker(&sim).await;
    c.join_queue(1).await;
    let id = c.claim_and_join().await;
    let start = json!({"step_id": uuid(), "job_id": "job-1", "timestamp": now_micros()});
    let (status, response) = c.call(&format!("run:{id}"), "step:start", start).await;
    assert_eq!(status, "error");
    assert_eq!(response["errors"]["order"][0], "step:start before run:start");
    let violations = sim.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(
        (violations[0].event.as_str(), violations[0].field.as_str()),
        ("step:start", "order")
    );
    assert_eq!(violations[0].run.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn a_missing_key_is_refused_and_recorded() {
    let sim = Simulator::start(SECRET);
    let (mut c, _, topic) = started_run(&sim).await;
    let step = uuid();
    let start = json!({"step_id": step, "job_id": "job-1", "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "step:start", start).await.0, "ok");
    // No reason.
    let complete = json!({
        "step_id": step, "job_id": "job-1", "error_type": null, "error_message": null,
        "output_dataclip": "{}", "output_dataclip_id": uuid(), "duration": 1, "thread_id": 1, "timestamp": now_micros(),
    });
    let (status, response) = c.call(&topic, "step:complete", complete).await;
    assert_eq!(status, "error");
    assert!(response["errors"]["reason"].is_array(), "{response}");
    assert_eq!(sim.violations().len(), 1);
    assert_eq!(sim.violations()[0].field, "reason");
    // The step stays open: the run cannot complete.
    let complete = json!({"reason": "success", "error_type": null, "error_message": null, "final_state": {}, "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "run:complete", complete).await.0, "error");
}

#[tokio::test]
async fn an_unknown_or_unreachable_job_is_refused() {
    let sim = Simulator::start(SECRET);
    let (mut c, _, topic) = started_run(&sim).await;
    let start = json!({"step_id": uuid(), "job_id": "job-9", "timestamp": now_micros()});
    let (status, response) = c.call(&topic, "step:start", start).await;
    assert_eq!(status, "error");
    assert!(
        response["errors"]["job_id"][0]
            .as_str()
            .is_some_and(|m| m.contains("not a job")),
        "{response}"
    );
    // job-2 only follows a successful job-1.
    let start = json!({"step_id": uuid(), "job_id": "job-2", "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "step:start", start).await.0, "error");
    let fields: Vec<String> = sim.violations().into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["job_id", "job_id"]);
}

#[tokio::test]
async fn an_event_sent_before_the_previous_reply_is_refused() {
    let sim = Simulator::start(SECRET);
    let (mut c, id, topic) = started_run(&sim).await;
    sim.inject("run:log", Fault::Delay(Duration::from_millis(300)));
    let log = json!({"run_id": id, "message": ["a"], "level": "info", "source": "R/T", "timestamp": now_micros()});
    let first = c.push(&topic, "run:log", log.clone()).await;
    let second = c.push(&topic, "run:log", log).await;
    // The second is answered first, with an error; the first comes after its delay.
    let (status, response) = c.reply(&second).await;
    assert_eq!(status, "error");
    assert!(response["errors"]["ref"].is_array(), "{response}");
    assert_eq!(c.reply(&first).await.0, "ok");
    let violations = sim.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(
        (violations[0].event.as_str(), violations[0].field.as_str()),
        ("run:log", "ref")
    );
    // Once both are answered, the next event is fine.
    let log = json!({"run_id": id, "message": ["b"], "level": "info", "source": "R/T", "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "run:log", log).await.0, "ok");
}

#[tokio::test]
async fn malformed_logs_are_refused() {
    let sim = Simulator::start(SECRET);
    let (mut c, id, topic) = started_run(&sim).await;
    let cases = [
        (
            "timestamp",
            json!({"run_id": id, "message": ["ms"], "level": "info", "source": "R/T", "timestamp": "1796010794074"}),
        ),
        (
            "timestamp",
            json!({"run_id": id, "message": ["number"], "level": "info", "source": "R/T", "timestamp": 1796010794074029_u64}),
        ),
        (
            "level",
            json!({"run_id": id, "message": ["x"], "level": "verbose", "source": "R/T", "timestamp": now_micros()}),
        ),
        (
            "source",
            json!({"run_id": id, "message": ["x"], "level": "info", "source": "RUNTIME-X", "timestamp": now_micros()}),
        ),
        (
            "message",
            json!({"run_id": id, "message": "x", "level": "info", "source": "R/T", "timestamp": now_micros()}),
        ),
        (
            "run_id",
            json!({"run_id": "other", "message": ["x"], "level": "info", "source": "R/T", "timestamp": now_micros()}),
        ),
        (
            "step_id",
            json!({"run_id": id, "message": ["x"], "level": "info", "source": "JOB", "timestamp": now_micros(), "step_id": uuid()}),
        ),
        (
            "stepId",
            json!({"run_id": id, "message": ["x"], "level": "info", "source": "JOB", "timestamp": now_micros(), "stepId": "s"}),
        ),
    ];
    for (field, log) in cases {
        let (status, response) = c.call(&topic, "run:log", log).await;
        assert_eq!(status, "error", "{field}");
        assert!(response["errors"][field].is_array(), "{field}: {response}");
    }
    assert_eq!(sim.violations().len(), 8);
}

#[tokio::test]
async fn nothing_may_follow_run_complete() {
    let sim = Simulator::start(SECRET);
    let (mut c, id, topic) = started_run(&sim).await;
    let complete = json!({"reason": "crash", "error_type": "CompileError", "error_message": "bad"});
    assert_eq!(c.call(&topic, "run:complete", complete).await.0, "ok");
    let log = json!({"run_id": id, "message": ["late"], "level": "info", "source": "R/T", "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "run:log", log).await.0, "error");
    assert_eq!(sim.violations()[0].field, "order");
    let done = sim.wait_completed(1, WAIT).expect("ended");
    assert_eq!(
        (done[0].reason.as_str(), done[0].error_type.as_deref()),
        ("crash", Some("CompileError"))
    );
}

#[tokio::test]
async fn heartbeats_keep_a_socket_open_and_silence_closes_it() {
    let sim = sim_with(|c| c.idle_timeout = Duration::from_millis(1000));
    let mut c = Client::worker(&sim).await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            c.call("phoenix", "heartbeat", json!({})).await,
            ("ok".into(), json!({}))
        );
    }
    assert_eq!(sim.connected(), 1);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(sim.connected(), 0);
    assert_eq!(sim.connections()[0].closed.as_deref(), Some("idle timeout"));
}

#[tokio::test]
async fn a_claim_whose_reply_is_lost_goes_back_to_the_queue() {
    let sim = Simulator::start(SECRET);
    let id = sim.enqueue(RunSpec::new(two_step_plan(), json!({})));
    let mut first = Client::worker(&sim).await;
    first.join_queue(1).await;
    sim.inject("claim", Fault::Delay(Duration::from_millis(1000)));
    first
        .push(
            "worker:queue",
            "claim",
            json!({"demand": 1, "worker_name": null, "queues": ["*"]}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(sim.run_state(&id), Some(RunState::Available));
    let mut second = Client::worker(&sim).await;
    second.join_queue(1).await;
    assert_eq!(second.claim(1).await[0]["id"], id.as_str());
    assert_eq!(sim.claimed_twice(), [id]);
}

#[tokio::test]
async fn a_run_whose_socket_dies_is_lost_unless_rejoined() {
    let sim = sim_with(|c| c.lost_after = Duration::from_millis(300));
    let (_, lost, _) = started_run(&sim).await;
    // Dropping the client (above) closes its socket mid-run.
    let done = sim.completed_within(1, WAIT).await.expect("the run is lost");
    assert_eq!((done[0].run.as_str(), done[0].reason.as_str()), (lost.as_str(), "lost"));
    assert_eq!(done[0].error_type.as_deref(), Some("LostAfterStart"));
    assert_eq!(sim.run_state(&lost), Some(RunState::Lost));

    // Disconnected by a fault, but the worker reconnects and rejoins in time.
    let id = sim.enqueue(RunSpec::new(two_step_plan(), json!({})));
    let mut c = Client::worker(&sim).await;
    c.join_queue(1).await;
    let runs = c.claim(1).await;
    sim.inject("fetch:plan", Fault::Disconnect);
    c.join(&format!("run:{id}"), json!({"token": runs[0]["token"]})).await;
    let _ = c.push(&format!("run:{id}"), "fetch:plan", json!({})).await;
    assert!(matches!(
        c.ws.next().await,
        None | Some(Err(_)) | Some(Ok(Message::Close(_)))
    ));
    let mut again = Client::worker(&sim).await;
    let (status, _) = again
        .join(&format!("run:{id}"), json!({"token": runs[0]["token"]}))
        .await;
    assert_eq!(status, "ok");
    assert_eq!(again.call(&format!("run:{id}"), "fetch:plan", json!({})).await.0, "ok");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.completed().len(), 1, "only the first run is lost");
    assert_eq!(sim.run_state(&id), Some(RunState::Claimed));
}

#[tokio::test]
async fn an_injected_error_reply_changes_nothing() {
    let sim = Simulator::start(SECRET);
    let (mut c, _, topic) = started_run(&sim).await;
    sim.inject("step:start", Fault::Error);
    let step = uuid();
    let start = json!({"step_id": step, "job_id": "job-1", "timestamp": now_micros()});
    let (status, response) = c.call(&topic, "step:start", start.clone()).await;
    assert_eq!(
        (status.as_str(), response),
        ("error", json!({"errors": {"simulator": ["injected fault"]}}))
    );
    assert!(sim.violations().is_empty());
    // Not recorded, so the same step may start now.
    assert_eq!(c.call(&topic, "step:start", start).await.0, "ok");
}

#[test]
fn binary_reply_decoding_checks_the_layout() {
    let mut frame = vec![1, 1, 2, 5, 2];
    frame.extend_from_slice(b"712run:1ok{\"a\":1}");
    let reply = decode_binary_reply(&frame).expect("decodes");
    assert_eq!(
        (
            reply.join_ref.as_str(),
            reply.reference.as_str(),
            reply.topic.as_str(),
            reply.status.as_str()
        ),
        ("7", "12", "run:1", "ok")
    );
    assert_eq!(reply.payload, b"{\"a\":1}");
    frame[0] = 0;
    assert!(decode_binary_reply(&frame).is_err(), "kind 0 is a push");
    assert!(decode_binary_reply(&[1, 9, 0, 0, 0, b'x']).is_err(), "too short");
}

/// Whether the simulator's last answer was an error on `field`, recorded as a violation.
fn refused(sim: &Simulator, answer: &(String, Value), field: &str) -> bool {
    answer.0 == "error"
        && answer.1["errors"][field].is_array()
        && sim.violations().last().is_some_and(|v| v.field == field)
}

#[tokio::test]
async fn a_compile_error_may_only_end_a_run_that_started_no_step() {
    let sim = Simulator::start(SECRET);
    let (mut c, _, topic) = started_run(&sim).await;
    let step = uuid();
    let start = json!({"step_id": step, "job_id": "job-1", "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "step:start", start).await.0, "ok");
    let complete = |error_type: &str| {
        json!({
            "step_id": step, "job_id": "job-1", "reason": "crash", "error_type": error_type, "error_message": "bad",
            "output_dataclip": "{}", "output_dataclip_id": uuid(), "duration": 1, "thread_id": 1, "timestamp": now_micros(),
        })
    };
    let answer = c.call(&topic, "step:complete", complete("CompileError")).await;
    assert!(refused(&sim, &answer, "error_type"), "{answer:?}");
    assert_eq!(c.call(&topic, "step:complete", complete("RuntimeCrash")).await.0, "ok");
    let end = json!({"reason": "crash", "error_type": "CompileError", "error_message": "x.js: SyntaxError", "timestamp": now_micros()});
    let answer = c.call(&topic, "run:complete", end).await;
    assert!(refused(&sim, &answer, "error_type"), "{answer:?}");
    assert_eq!(sim.violations().len(), 2);

    // Without steps, a compile error is a crash.
    let sim = Simulator::start(SECRET);
    let (mut c, _, topic) = started_run(&sim).await;
    let end = json!({"reason": "fail", "error_type": "CompileError", "error_message": "x", "final_state": {}, "timestamp": now_micros()});
    let answer = c.call(&topic, "run:complete", end).await;
    assert!(refused(&sim, &answer, "reason"), "{answer:?}");
    let end = json!({"reason": "crash", "error_type": "CompileError", "error_message": "x", "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "run:complete", end).await.0, "ok");
    assert_eq!(sim.violations().len(), 1);
}

#[tokio::test]
async fn log_lines_must_follow_the_runs_log_options() {
    let sim = Simulator::start(SECRET);
    let mut plan = two_step_plan();
    plan["options"] = json!({"sanitize": "summarize", "job_log_level": "none", "log_payload_limit_mb": 1});
    let (mut c, id, topic) = started_run_of(&sim, plan).await;
    let log = |source: &str, message: Value| json!({"run_id": id, "message": message, "level": "info", "source": source, "timestamp": now_micros()});
    let fine = c
        .call(&topic, "run:log", log("ADA", json!(["n", 1, "(object with keys a)"])))
        .await;
    assert_eq!(fine.0, "ok");
    let error = json!([{"name": "Error", "message": "boom"}]);
    assert_eq!(
        c.call(&topic, "run:log", log("ADA", error)).await.0,
        "ok",
        "an Error shows"
    );
    let answer = c.call(&topic, "run:log", log("JOB", json!(["hi"]))).await;
    assert!(refused(&sim, &answer, "source"), "job_log_level: none: {answer:?}");
    let answer = c.call(&topic, "run:log", log("ADA", json!(["n", {"a": 1}]))).await;
    assert!(
        refused(&sim, &answer, "message"),
        "an object under summarize: {answer:?}"
    );
    let answer = c.call(&topic, "run:log", log("ADA", json!([[1, 2]]))).await;
    assert!(
        refused(&sim, &answer, "message"),
        "an array under summarize: {answer:?}"
    );
    let answer = c
        .call(&topic, "run:log", log("R/T", json!(["x".repeat(1 << 20)])))
        .await;
    assert!(
        refused(&sim, &answer, "message"),
        "over log_payload_limit_mb: {answer:?}"
    );
    assert_eq!(sim.violations().len(), 4);

    let sim = Simulator::start(SECRET);
    let mut plan = two_step_plan();
    plan["options"] = json!({"sanitize": "remove"});
    let (mut c, id, topic) = started_run_of(&sim, plan).await;
    let log = |message: Value| json!({"run_id": id, "message": message, "level": "info", "source": "JOB", "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "run:log", log(json!(["a", null]))).await.0, "ok");
    let answer = c.call(&topic, "run:log", log(json!([null]))).await;
    assert!(
        refused(&sim, &answer, "message"),
        "a line of one removed value: {answer:?}"
    );
    assert_eq!(sim.violations().len(), 1);
}

#[tokio::test]
async fn outputs_must_not_hold_removed_keys_and_thread_ids_are_whole() {
    let sim = Simulator::start(SECRET);
    let (mut c, _, topic) = started_run(&sim).await;
    let step = uuid();
    let start = json!({"step_id": step, "job_id": "job-1", "timestamp": now_micros()});
    assert_eq!(c.call(&topic, "step:start", start).await.0, "ok");
    let complete = |output: Value, thread: Value| {
        json!({
            "step_id": step, "job_id": "job-1", "reason": "success", "error_type": null, "error_message": null,
            "output_dataclip": output.to_string(), "output_dataclip_id": uuid(), "duration": 1, "thread_id": thread,
            "timestamp": now_micros(),
        })
    };
    let answer = c
        .call(
            &topic,
            "step:complete",
            complete(json!({"data": 1, "response": {"statusCode": 200}}), json!(1)),
        )
        .await;
    assert!(refused(&sim, &answer, "output_dataclip"), "{answer:?}");
    let answer = c
        .call(&topic, "step:complete", complete(json!({"data": 1}), json!(1.5)))
        .await;
    assert!(refused(&sim, &answer, "thread_id"), "{answer:?}");
    assert_eq!(
        c.call(&topic, "step:complete", complete(json!({"data": 1}), json!(3)))
            .await
            .0,
        "ok"
    );
    assert_eq!(sim.steps(&c_run(&topic))[0].thread_id, Some(3));
    let end = |state: Value| json!({"reason": "success", "error_type": null, "error_message": null, "final_state": state, "timestamp": now_micros()});
    let answer = c
        .call(
            &topic,
            "run:complete",
            end(json!({"data": 1, "configuration": {"password": "x"}})),
        )
        .await;
    assert!(refused(&sim, &answer, "final_state"), "{answer:?}");
    // Several leaves: each leaf's state is checked.
    let answer = c
        .call(
            &topic,
            "run:complete",
            end(json!({"job-1": {"response": {}}, "job-2": {}})),
        )
        .await;
    assert!(refused(&sim, &answer, "final_state"), "{answer:?}");
    assert_eq!(c.call(&topic, "run:complete", end(json!({"data": 1}))).await.0, "ok");
    assert_eq!(sim.violations().len(), 4);
}

/// The run id of a `run:<id>` topic.
fn c_run(topic: &str) -> String {
    topic.trim_start_matches("run:").to_string()
}
