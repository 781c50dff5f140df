//! Lazy `$` references: `"$.data.id"` in an argument is replaced, when the step runs,
//! by what that JSONPath (RFC 9535) selects in the current state.

use serde_json::Value;
use serde_json_path::JsonPath;

/// Resolves every `$`-reference in `arg` against `state`. A path that selects nothing
/// gives `null`, one match its value, several matches an array of them.
pub fn resolve(arg: &Value, state: &Value) -> Result<Value, String> {
    Ok(match arg {
        Value::String(s) if s == "$" || s.starts_with("$.") || s.starts_with("$[") => {
            let path = JsonPath::parse(s).map_err(|e| format!("{s:?} is not a valid JSONPath: {e}"))?;
            let nodes = path.query(state).all();
            match nodes.len() {
                0 => Value::Null,
                1 => nodes[0].clone(),
                _ => Value::Array(nodes.into_iter().cloned().collect()),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, state)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, state)?)))
                .collect::<Result<_, String>>()?,
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
            resolve(&arg, &state).unwrap(),
            json!({"facility": "f1", "list": [[1, 2], "plain"], "first": 3, "none": null})
        );
        assert!(resolve(&json!("$.data[?"), &state).is_err());
    }
}
