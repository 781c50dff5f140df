//! Per-job limits: what a job may use before the host stops it.

use std::fmt;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The limits of one job. Every job gets a fresh sandbox with these limits; breaking
/// one stops the job with [`Error::Limit`](crate::Error::Limit), naming the limit,
/// its value and the flag that raises it. The host itself keeps running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory of the adaptor instance, in bytes. Default: 64 MiB, ample for
    /// adaptors that hold a page of JSON at a time.
    pub memory_bytes: u64,
    /// Time the guest may spend executing, summed over the job. Default: 30 s; waiting
    /// for servers does not count.
    pub cpu_time: Duration,
    /// Wall-clock time of the whole job, waiting included. Default: 5 minutes, as
    /// OpenFn's CLI.
    pub wall_time: Duration,
    /// HTTP requests per job. Default: 10,000.
    pub requests: u32,
    /// Size of one response body, in bytes. Default: 32 MiB (OpenLMIS requisitions
    /// with embedded orderables run to several MB).
    pub response_bytes: u64,
    /// Bytes the job may cause to be logged: adaptor log lines, the adaptor's stderr
    /// and stdout, host-side `log` lines and the host's warnings about the job, each
    /// counted as the line written (message, level and fields). Default: 1 MiB.
    pub log_bytes: u64,
    /// Size of the job's state in the host's memory, as [`json_size`] estimates it:
    /// checked after every operation and built-in, and bounding each resolved argument
    /// and each output the host accepts from an adaptor. Default: 64 MiB.
    pub state_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(30),
            wall_time: Duration::from_secs(300),
            requests: 10_000,
            response_bytes: 32 << 20,
            log_bytes: 1 << 20,
            state_bytes: 64 << 20,
        }
    }
}

/// How often the engine's epoch advances: the granularity of CPU-time accounting.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest memory limit the engine's instance pool supports.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// A limit that was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::memory_bytes`].
    Memory(u64),
    /// [`Limits::cpu_time`].
    CpuTime(Duration),
    /// [`Limits::wall_time`].
    WallTime(Duration),
    /// [`Limits::requests`].
    Requests(u32),
    /// [`Limits::response_bytes`].
    ResponseBytes(u64),
    /// [`Limits::log_bytes`].
    LogBytes(u64),
    /// The wall-clock limit of a whole run, across its steps.
    RunTime(Duration),
    /// [`Limits::state_bytes`].
    StateSize(u64),
    /// [`MAX_DEPTH`]: a value the host would build or accept nests deeper.
    Depth(usize),
}

impl Limit {
    /// The command-line flag that sets this limit, if one does.
    pub fn flag(&self) -> Option<&'static str> {
        Some(match self {
            Limit::Memory(_) => "--max-memory",
            Limit::CpuTime(_) => "--max-cpu",
            Limit::WallTime(_) => "--timeout",
            Limit::Requests(_) => "--max-requests",
            Limit::ResponseBytes(_) => "--max-response-size",
            Limit::LogBytes(_) => "--max-log-size",
            Limit::RunTime(_) => "--run-timeout",
            Limit::StateSize(_) => "--max-state-size",
            Limit::Depth(_) => return None,
        })
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = self.flag().unwrap_or_default();
        match self {
            Limit::Memory(b) => write!(f, "memory limit of {} MiB (raise it with {flag})", b >> 20),
            Limit::CpuTime(d) => write!(f, "CPU time limit of {} ms (raise it with {flag})", d.as_millis()),
            Limit::WallTime(d) => write!(f, "time limit of {} ms (raise it with {flag})", d.as_millis()),
            Limit::Requests(n) => write!(f, "limit of {n} HTTP requests per job (raise it with {flag})"),
            Limit::ResponseBytes(b) => {
                write!(f, "response size limit of {b} bytes (raise it with {flag})")
            }
            Limit::LogBytes(b) => write!(f, "log volume limit of {b} bytes (raise it with {flag})"),
            Limit::RunTime(d) => write!(f, "run time limit of {} ms (raise it with {flag})", d.as_millis()),
            Limit::StateSize(b) => write!(
                f,
                "state size limit of {}, counted as the state takes in memory (raise it with {flag})",
                Bytes(*b)
            ),
            Limit::Depth(n) => write!(f, "nesting depth limit of {n} levels (JSON values, nested operations)"),
        }
    }
}

/// Whole mebibytes as `N MiB`, anything else as `N bytes`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1 << 20 && self.0.is_multiple_of(1 << 20) {
            write!(f, "{} MiB", self.0 >> 20)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// How deep any JSON value the host builds or accepts may nest (the state, a resolved
/// argument, an adaptor's output), counting the value itself as level 1. Everything
/// the host does with a JSON value (cloning, masking, printing, dropping) recurses on
/// its depth, so this bounds the host's stack. Adaptor outputs parse with serde_json's
/// own limit of 128 levels; the state adds a few levels around them.
pub const MAX_DEPTH: usize = 200;

/// What one JSON value costs in [`json_size`] besides its text: its `Value` slot.
pub(crate) const VALUE_BYTES: u64 = size_of::<Value>() as u64;
/// What one object entry costs besides its key's text and its value: the key's
/// `String`, its hash and its index slot.
pub(crate) const ENTRY_BYTES: u64 = 40;

/// The estimated size and the depth of a JSON value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonSize {
    /// Estimated bytes in the host's memory: the text of every string and key plus a
    /// fixed cost per value and per object entry.
    pub bytes: u64,
    /// Nesting depth: 1 for a scalar, 2 for `[1]`.
    pub depth: usize,
}

/// Measures `value` without recursion, stopping as soon as it is larger than
/// `max_bytes` ([`Limit::StateSize`]) or deeper than [`MAX_DEPTH`] ([`Limit::Depth`]).
pub fn json_size(value: &Value, max_bytes: u64) -> Result<JsonSize, Limit> {
    let mut size = JsonSize {
        bytes: VALUE_BYTES,
        depth: 1,
    };
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        size.depth = size.depth.max(depth);
        match value {
            Value::String(s) => size.bytes += s.len() as u64,
            Value::Array(items) => size.bytes += VALUE_BYTES * items.len() as u64,
            Value::Object(map) => {
                size.bytes += map
                    .keys()
                    .map(|k| VALUE_BYTES + ENTRY_BYTES + k.len() as u64)
                    .sum::<u64>();
            }
            _ => {}
        }
        // Checked before the children are pushed, so the stack stays within the budget.
        if size.bytes > max_bytes {
            return Err(Limit::StateSize(max_bytes));
        }
        let nested = match value {
            Value::Array(items) => !items.is_empty(),
            Value::Object(map) => !map.is_empty(),
            _ => false,
        };
        if nested && depth >= MAX_DEPTH {
            return Err(Limit::Depth(MAX_DEPTH));
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    Ok(size)
}

/// Why [`parse_json`] refused a text.
#[derive(Debug)]
pub enum JsonRefused {
    /// The value would be larger than the budget, or deeper than serde_json's limit.
    Limit(Limit),
    /// The text is not JSON.
    Invalid(serde_json::Error),
}

impl fmt::Display for JsonRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonRefused::Limit(limit) => write!(f, "it would break the {limit}"),
            JsonRefused::Invalid(e) => write!(f, "it is not JSON: {e}"),
        }
    }
}

/// Parses JSON text that an adaptor returned, refusing it before it costs the host
/// more than `max_bytes` as [`json_size`] counts (4 million `{}` are 12 MB of text but
/// hundreds of MB of parsed values). serde_json's recursion limit of 128 levels stays
/// on, so the parse itself is bounded in depth as well.
///
/// Returns the value with its [`json_size`], counted while parsing, so the caller need
/// not walk the value again to measure it.
pub fn parse_json(text: &str, max_bytes: u64) -> Result<(Value, JsonSize), JsonRefused> {
    let too_big = JsonRefused::Limit(Limit::StateSize(max_bytes));
    if text.len() as u64 > max_bytes {
        return Err(too_big);
    }
    let mut budget = Budget {
        left: max_bytes,
        exceeded: false,
        deepest: 0,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Seed {
        budget: &mut budget,
        depth: 1,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok((
            value,
            JsonSize {
                bytes: max_bytes - budget.left,
                depth: budget.deepest,
            },
        )),
        Err(_) if budget.exceeded => Err(too_big),
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => Err(JsonRefused::Limit(Limit::Depth(128))),
        Err(e) => Err(JsonRefused::Invalid(e)),
    }
}

/// What is left of a [`parse_json`] budget, and the deepest level reached.
struct Budget {
    left: u64,
    exceeded: bool,
    deepest: usize,
}

impl Budget {
    /// Charges one value (at `depth`) or object entry of `bytes`.
    fn charge<E: de::Error>(&mut self, bytes: u64, depth: usize) -> Result<(), E> {
        self.deepest = self.deepest.max(depth);
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.exceeded = true;
                Err(E::custom("the state size limit"))
            }
        }
    }
}

/// Builds a `serde_json::Value`, charging each part to the budget as it is read.
struct Seed<'b> {
    budget: &'b mut Budget,
    /// The level of the value read (1 for the whole text), as [`json_size`] counts it.
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.charge(VALUE_BYTES, self.depth)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.charge(VALUE_BYTES, self.depth)?;
        Ok(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.charge(VALUE_BYTES, self.depth)?;
        Ok(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.charge(VALUE_BYTES, self.depth)?;
        Ok(v.into())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.charge(VALUE_BYTES + v.len() as u64, self.depth)?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.charge(VALUE_BYTES + v.len() as u64, self.depth)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.charge(VALUE_BYTES, self.depth)?;
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.charge(VALUE_BYTES, self.depth)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed {
            budget: &mut *self.budget,
            depth: self.depth + 1,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.budget.charge(VALUE_BYTES, self.depth)?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            self.budget.charge(ENTRY_BYTES + key.len() as u64, self.depth)?;
            let value = access.next_value_seed(Seed {
                budget: &mut *self.budget,
                depth: self.depth + 1,
            })?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_size_counts_text_and_values_and_stops_at_the_budget() {
        let small = json_size(&json!({"ab": ["xyz", 1]}), u64::MAX).unwrap();
        assert_eq!(small.depth, 3);
        assert_eq!(small.bytes, 4 * VALUE_BYTES + ENTRY_BYTES + 2 + 3);
        assert_eq!(json_size(&json!(vec!["x"; 100]), 1000), Err(Limit::StateSize(1000)));
    }

    #[test]
    fn json_size_refuses_values_deeper_than_the_limit_without_recursing() {
        let mut deep = json!(1);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(json_size(&deep, u64::MAX), Err(Limit::Depth(MAX_DEPTH)));
        // Dropping it would recurse 100,000 levels; take it apart level by level.
        while let Value::Array(mut items) = deep {
            deep = items.pop().unwrap_or_default();
        }
        let mut fits = json!(1);
        for _ in 1..MAX_DEPTH {
            fits = Value::Array(vec![fits]);
        }
        assert_eq!(json_size(&fits, u64::MAX).unwrap().depth, MAX_DEPTH);
    }

    #[test]
    fn parse_json_measures_as_json_size_does() {
        for text in [
            "1",
            r#""text""#,
            "[]",
            "{}",
            r#"{"ab": ["xyz", 1, {"c": {}}], "d": [[[]]], "e": null}"#,
            r#"[{"id": "a", "n": [1.5, true]}, "é", []]"#,
        ] {
            let (value, size) = parse_json(text, 1 << 20).unwrap();
            assert_eq!(size, json_size(&value, u64::MAX).unwrap(), "{text}");
        }
    }

    #[test]
    fn parse_json_refuses_many_small_values_before_building_them() {
        let text = format!("[{}]", vec!["{}"; 100_000].join(","));
        assert_eq!(text.len(), 299_999 + 2);
        let refused = parse_json(&text, 1 << 20).unwrap_err();
        assert!(matches!(refused, JsonRefused::Limit(Limit::StateSize(_))), "{refused}");
        assert!(refused.to_string().contains("--max-state-size"), "{refused}");
        let (parsed, size) = parse_json(&text, 64 << 20).unwrap();
        assert_eq!(json_size(&parsed, u64::MAX).unwrap().bytes, 100_001 * VALUE_BYTES);
        assert_eq!(size, json_size(&parsed, u64::MAX).unwrap());
        assert_eq!(
            parse_json(r#"{"a": [1, "b", null, true, -2.5]}"#, 1 << 10).unwrap().0,
            json!({"a": [1, "b", null, true, -2.5]})
        );
        assert!(matches!(parse_json("[1,", 1 << 10), Err(JsonRefused::Invalid(_))));
        assert!(matches!(parse_json("1 2", 1 << 10), Err(JsonRefused::Invalid(_))));
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert!(matches!(
            parse_json(&deep, 1 << 20),
            Err(JsonRefused::Limit(Limit::Depth(128)))
        ));
    }
}
