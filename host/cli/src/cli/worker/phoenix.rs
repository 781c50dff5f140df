//! A Phoenix channels client (V2 serializer) over one websocket: pushes matched to
//! their replies by `ref`, binary replies, server pushes, heartbeats.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use adaptor_host::Cancel;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// A reply to a push.
#[derive(Debug)]
pub enum Reply {
    /// `status: ok` with its response.
    Ok(Value),
    /// `status: error` with its response.
    Error(Value),
    /// A binary reply frame's payload (`fetch:dataclip`).
    Binary(Vec<u8>),
}

/// Why a push got no reply.
#[derive(Debug)]
pub enum NoReply {
    /// The connection closed first: the push may not have arrived.
    Gone,
    /// No reply within the message timeout.
    Timeout,
}

/// One open connection.
pub struct Conn {
    /// A number unique to this connection within the process.
    pub id: u64,
    out: mpsc::UnboundedSender<Message>,
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    joins: Mutex<HashMap<String, String>>,
    next_ref: AtomicU64,
    timeout: Duration,
    /// Cancelled when the connection has closed.
    pub closed: Cancel,
}

/// A server push (`ref` null): `work-available`, `phx_error`, `phx_close`.
#[derive(Debug)]
pub struct Push {
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
}

impl Conn {
    /// Connects to `url` (the full websocket URL with its query) and starts the tasks
    /// that read, write and send heartbeats every `heartbeat`. Server pushes go to
    /// `pushes`.
    pub async fn connect(
        id: u64,
        url: &str,
        heartbeat: Duration,
        timeout: Duration,
        pushes: mpsc::UnboundedSender<Push>,
    ) -> Result<Arc<Conn>, String> {
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| "the connection timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let (out, mut outgoing) = mpsc::unbounded_channel();
        let conn = Arc::new(Conn {
            id,
            out,
            pending: Mutex::new(HashMap::new()),
            joins: Mutex::new(HashMap::new()),
            next_ref: AtomicU64::new(1),
            timeout,
            closed: Cancel::new(),
        });
        let (mut sink, mut stream) = ws.split();
        let driver = Arc::clone(&conn);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = outgoing.recv() => match message {
                        Some(message) => if sink.send(message).await.is_err() { break },
                        None => break,
                    },
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Text(text))) => driver.on_text(text.as_str(), &pushes),
                        Some(Ok(Message::Binary(bytes))) => driver.on_binary(&bytes),
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                    () = driver.closed.cancelled() => break,
                }
            }
            let _ = sink.close().await;
            driver.pending.lock().expect("pending").clear();
            driver.closed.cancel();
        });
        let beating = Arc::clone(&conn);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(heartbeat) => {}
                    () = beating.closed.cancelled() => return,
                }
                let beat = beating.request(None, "phoenix", "heartbeat", json!({}));
                if tokio::time::timeout(heartbeat, beat).await.is_err() {
                    tracing::warn!("lightning: no heartbeat reply within {heartbeat:?}; reconnecting");
                    beating.closed.cancel();
                    return;
                }
            }
        });
        Ok(conn)
    }

    fn on_text(&self, text: &str, pushes: &mpsc::UnboundedSender<Push>) {
        let Ok(Value::Array(frame)) = serde_json::from_str::<Value>(text) else {
            tracing::warn!("lightning: a frame that is not a V2 array: {text:.200}");
            return;
        };
        let [_join_ref, reference, topic, event, payload] = <[Value; 5]>::try_from(frame).unwrap_or_default();
        let topic = topic.as_str().unwrap_or_default().to_string();
        let event = event.as_str().unwrap_or_default().to_string();
        match reference.as_str() {
            Some(reference) if event == "phx_reply" || event.starts_with("chan_reply_") => {
                let response = payload["response"].clone();
                let reply = if payload["status"] == "ok" {
                    Reply::Ok(response)
                } else {
                    Reply::Error(response)
                };
                self.answer(reference, reply);
            }
            _ => {
                let _ = pushes.send(Push { topic, event });
            }
        }
    }

    /// A binary frame: kind 1 (reply), the lengths of join_ref, ref, topic and status,
    /// those strings, then the payload.
    fn on_binary(&self, bytes: &[u8]) {
        let Some((&1, rest)) = bytes.split_first() else { return };
        if rest.len() < 4 {
            return;
        }
        let lengths: Vec<usize> = rest[..4].iter().map(|&n| usize::from(n)).collect();
        let strings = &rest[4..];
        let header: usize = lengths.iter().sum();
        if strings.len() < header {
            return;
        }
        let reference = String::from_utf8_lossy(&strings[lengths[0]..lengths[0] + lengths[1]]).to_string();
        let status_at = lengths[0] + lengths[1] + lengths[2];
        let ok = &strings[status_at..status_at + lengths[3]] == b"ok";
        let payload = strings[header..].to_vec();
        let reply = if ok {
            Reply::Binary(payload)
        } else {
            Reply::Error(serde_json::from_slice(&payload).unwrap_or(Value::Null))
        };
        self.answer(&reference, reply);
    }

    fn answer(&self, reference: &str, reply: Reply) {
        if let Some(waiting) = self.pending.lock().expect("pending").remove(reference) {
            let _ = waiting.send(reply);
        }
    }

    /// Pushes `event` on `topic` (with the topic's join ref) and waits for the reply.
    pub async fn call(&self, topic: &str, event: &str, payload: Value) -> Result<Reply, NoReply> {
        let join_ref = self.joins.lock().expect("joins").get(topic).cloned();
        self.request(join_ref, topic, event, payload).await
    }

    /// Joins `topic` with `payload`.
    pub async fn join(&self, topic: &str, payload: Value) -> Result<Reply, NoReply> {
        let join_ref = self.fresh_ref();
        self.joins
            .lock()
            .expect("joins")
            .insert(topic.to_string(), join_ref.clone());
        self.send(Some(join_ref.clone()), join_ref, topic, "phx_join", payload)
            .await
    }

    /// Leaves `topic` (the reply does not matter: lightning-mock answers an error).
    pub async fn leave(&self, topic: &str) {
        let _ = self.call(topic, "phx_leave", json!({})).await;
        self.joins.lock().expect("joins").remove(topic);
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.closed.cancel();
    }

    fn fresh_ref(&self) -> String {
        self.next_ref.fetch_add(1, Ordering::Relaxed).to_string()
    }

    async fn request(
        &self,
        join_ref: Option<String>,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<Reply, NoReply> {
        let reference = self.fresh_ref();
        self.send(join_ref, reference, topic, event, payload).await
    }

    async fn send(
        &self,
        join_ref: Option<String>,
        reference: String,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<Reply, NoReply> {
        if self.closed.is_cancelled() {
            return Err(NoReply::Gone);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(reference.clone(), tx);
        let frame = json!([join_ref, reference, topic, event, payload]);
        if self.out.send(Message::text(frame.to_string())).is_err() {
            return Err(NoReply::Gone);
        }
        tokio::select! {
            reply = rx => reply.map_err(|_| NoReply::Gone),
            () = tokio::time::sleep(self.timeout) => {
                self.pending.lock().expect("pending").remove(&reference);
                Err(NoReply::Timeout)
            }
            () = self.closed.cancelled() => Err(NoReply::Gone),
        }
    }
}
