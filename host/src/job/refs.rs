//! Lazy `$` references: `"$.data.id"` in an argument is replaced, when the step runs,
//! by what that JSONPath (RFC 9535) selects in the current state.
//!
//! Resolution is bounded like the state itself: a resolved argument may not be larger
//! than the state size limit nor nest deeper than [`MAX_DEPTH`], and both are checked
//! before anything is copied, so `["$", "$"]` cannot double the state step by step.

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::sandbox::limits::{Limit, MAX_DEPTH, VALUE_BYTES, json_size};

/// Why an argument could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// A reference is not a valid JSONPath.
    Path(String),
    /// The resolved argument would be larger than the budget or too deep.
    Limit(Limit),
}

/// Resolves every `$`-reference in `arg` against `state`. A path that selects nothing
/// gives `null`, one match its value, several matches an array of them. The result
/// costs at most `max_bytes` as [`json_size`] counts.
pub fn resolve(arg: &Value, state: &Value, max_bytes: u64) -> Result<Value, Unresolved> {
    let mut budget = max_bytes;
    resolve_at(arg, state, &mut budget, max_bytes, 1)
}

/// Resolves `arg`, which sits at `depth` in the result, charging what it copies.
fn resolve_at(arg: &Value, state: &Value, budget: &mut u64, max_bytes: u64, depth: usize) -> Result<Value, Unresolved> {
    let too_big = || Unresolved::Limit(Limit::StateSize(max_bytes));
    let too_deep = || Unresolved::Limit(Limit::Depth(MAX_DEPTH));
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match arg {
        Value::String(s) if s == "$" || s.starts_with("$.") || s.starts_with("$[") => {
            let path =
                JsonPath::parse(s).map_err(|e| Unresolved::Path(format!("{s:?} is not a valid JSONPath: {e}")))?;
            let nodes = path.query(state).all();
            // Several matches become an array: one level more, one value more each.
            let (extra_depth, extra_bytes) = if nodes.len() == 1 {
                (0, 0)
            } else {
                (1, VALUE_BYTES * (nodes.len() as u64 + 1))
            };
            *budget = budget.checked_sub(extra_bytes).ok_or_else(too_big)?;
            for node in &nodes {
                let size = json_size(node, *budget).map_err(|limit| match limit {
                    Limit::StateSize(_) => too_big(),
                    other => Unresolved::Limit(other),
                })?;
                if depth + extra_depth + size.depth - 1 > MAX_DEPTH {
                    return Err(too_deep());
                }
                *budget -= size.bytes;
            }
            match nodes.len() {
                0 => Value::Null,
                1 => nodes[0].clone(),
                _ => Value::Array(nodes.into_iter().cloned().collect()),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_at(v, state, budget, max_bytes, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_at(v, state, budget, max_bytes, depth + 1)?)))
                .collect::<Result<_, Unresolved>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_nested_references() {
        let state = json!({"data": {"id": "f1", "items": [1, 2]}, "references": [{"n": 3}]});
        let arg = json!({"facility": "$.data.id", "list": ["$.data.items[*]", "plain"], "first": "$.references[0].n", "none": "$.data.missing"});
        assert_eq!(
            resolve(&arg, &state, u64::MAX).unwrap(),
            json!({"facility": "f1", "list": [[1, 2], "plain"], "first": 3, "none": null})
        );
        assert!(matches!(
            resolve(&json!("$.data[?"), &state, u64::MAX),
            Err(Unresolved::Path(_))
        ));
    }

    #[test]
    fn refuses_to_build_an_argument_over_the_budget() {
        let state = json!({"x": "a".repeat(1000)});
        assert!(resolve(&json!(["$.x", "$.x"]), &state, 4000).is_ok());
        assert_eq!(
            resolve(&json!(["$.x", "$.x", "$.x", "$.x"]), &state, 4000),
            Err(Unresolved::Limit(Limit::StateSize(4000)))
        );
        assert_eq!(
            resolve(&json!("$..*"), &json!({"a": [[["b".repeat(900)]]]}), 2000),
            Err(Unresolved::Limit(Limit::StateSize(2000)))
        );
    }

    #[test]
    fn refuses_to_nest_a_reference_deeper_than_the_limit() {
        let mut state = json!(1);
        for _ in 0..150 {
            state = Value::Array(vec![state]);
        }
        let state = json!({"deep": state});
        assert!(resolve(&json!("$.deep"), &state, u64::MAX).is_ok());
        let mut arg = json!("$.deep");
        for _ in 0..100 {
            arg = Value::Array(vec![arg]);
        }
        assert_eq!(
            resolve(&arg, &state, u64::MAX),
            Err(Unresolved::Limit(Limit::Depth(MAX_DEPTH)))
        );
    }

    proptest::proptest! {
        #[test]
        fn resolve_never_panics_and_stays_within_its_budget(
            arg in crate::values::arbitrary::json(),
            state in crate::values::arbitrary::json(),
            max_bytes in 0u64..100_000,
        ) {
            if let Ok(resolved) = resolve(&arg, &state, max_bytes) {
                let literal = json_size(&arg, u64::MAX).unwrap().bytes;
                let size = json_size(&resolved, u64::MAX).unwrap();
                proptest::prop_assert!(size.bytes <= max_bytes + literal, "{} > {max_bytes} + {literal}", size.bytes);
            }
        }
    }
}
