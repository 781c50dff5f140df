//! Phoenix channels, V2 serializer (`vsn=2.0.0`): text frames are JSON arrays
//! `[join_ref, ref, topic, event, payload]`; replies are `phx_reply` pushes
//! `{"status", "response"}` matched by `ref`; a binary frame carries a raw payload
//! (Lightning answers `fetch:dataclip` with one).

use axum::extract::ws::Message;
use serde_json::{Map, Value, json};

/// A frame a client pushed, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) join_ref: Option<String>,
    pub(crate) reference: Option<String>,
    pub(crate) topic: String,
    pub(crate) event: String,
    pub(crate) payload: Value,
}

/// Parses a text frame, or says why it is not a V2 frame.
pub(crate) fn parse(text: &str) -> Result<Incoming, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("frame is not JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("frame is not a JSON array [join_ref, ref, topic, event, payload]".into());
    };
    let [join_ref, reference, topic, event, payload] =
        <[Value; 5]>::try_from(items).map_err(|items| format!("frame has {} elements, not 5", items.len()))?;
    let optional = |v: Value, what: &str| match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(format!("{what} must be a string or null, got {other}")),
    };
    let join_ref = optional(join_ref, "join_ref")?;
    let reference = optional(reference, "ref")?;
    let Value::String(topic) = topic else {
        return Err("topic must be a string".into());
    };
    let Value::String(event) = event else {
        return Err("event must be a string".into());
    };
    Ok(Incoming {
        join_ref,
        reference,
        topic,
        event,
        payload,
    })
}

/// A `phx_reply` text frame.
pub(crate) fn reply(
    join_ref: Option<&str>,
    reference: Option<&str>,
    topic: &str,
    ok: bool,
    response: Value,
) -> Message {
    let status = if ok { "ok" } else { "error" };
    let frame = json!([join_ref, reference, topic, "phx_reply", {"status": status, "response": response}]);
    Message::Text(frame.to_string().into())
}

/// A server push (`ref` null), e.g. `work-available`.
pub(crate) fn push(join_ref: Option<&str>, topic: &str, event: &str, payload: Value) -> Message {
    Message::Text(json!([join_ref, Value::Null, topic, event, payload]).to_string().into())
}

/// Kind byte of a binary reply frame (0 is a push, 2 a broadcast).
const KIND_REPLY: u8 = 1;

/// A binary reply frame, laid out as phoenix.js's serializer reads it: byte 0 = 1
/// (reply), bytes 1-4 = lengths of join_ref, ref, topic and status, then those
/// strings, then the raw payload.
pub(crate) fn binary_reply(join_ref: Option<&str>, reference: Option<&str>, topic: &str, payload: &[u8]) -> Message {
    let (join_ref, reference, status) = (join_ref.unwrap_or(""), reference.unwrap_or(""), "ok");
    let len = |s: &str| u8::try_from(s.len()).expect("phoenix binary header strings are under 256 bytes");
    let mut frame = vec![KIND_REPLY, len(join_ref), len(reference), len(topic), len(status)];
    for s in [join_ref, reference, topic, status] {
        frame.extend_from_slice(s.as_bytes());
    }
    frame.extend_from_slice(payload);
    Message::Binary(frame.into())
}

/// A binary reply frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryReply {
    /// The channel's join ref.
    pub join_ref: String,
    /// The ref of the push answered.
    pub reference: String,
    /// The topic, e.g. `run:<id>`.
    pub topic: String,
    /// `ok` or `error`.
    pub status: String,
    /// The raw payload (for `fetch:dataclip`, the input's UTF-8 JSON).
    pub payload: Vec<u8>,
}

/// Decodes a binary reply frame as phoenix.js does, or says why it is not one.
pub fn decode_binary_reply(frame: &[u8]) -> Result<BinaryReply, String> {
    let Some((&kind, rest)) = frame.split_first() else {
        return Err("empty frame".into());
    };
    if kind != KIND_REPLY {
        return Err(format!("kind byte {kind}, not 1 (reply)"));
    }
    let Some((lengths, mut rest)) = rest.split_first_chunk::<4>() else {
        return Err("frame shorter than its 5-byte header".into());
    };
    let mut strings = Vec::with_capacity(4);
    for &len in lengths {
        let Some((s, tail)) = rest.split_at_checked(usize::from(len)) else {
            return Err("frame shorter than its header strings".into());
        };
        strings.push(String::from_utf8(s.to_vec()).map_err(|_| "header string is not UTF-8".to_string())?);
        rest = tail;
    }
    let [join_ref, reference, topic, status] = <[String; 4]>::try_from(strings).expect("four strings");
    Ok(BinaryReply {
        join_ref,
        reference,
        topic,
        status,
        payload: rest.to_vec(),
    })
}

/// Lightning's changeset error body: `{"errors": {"<field>": ["<message>", ...]}}`.
pub(crate) fn changeset_errors(errors: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (field, message) in errors {
        let entry = map.entry(field.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(message.clone()));
        }
    }
    json!({"errors": map})
}
