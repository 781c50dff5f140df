//! Composing OpenFn state from what operations produce, as `@openfn/runtime` and
//! `language-common` do. Adaptors return only their output; the next state is built
//! here, so the state never crosses into a guest and `references` grows in the host
//! alone.

use serde_json::{Map, Value, json};

/// What one operation produced, as the host received it.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationOutput {
    /// The new `state.data`.
    pub data: Value,
    /// The new `state.response` (an object, no body), for operations that made an HTTP
    /// exchange.
    pub response: Option<Value>,
    /// Results of earlier exchanges, oldest first, each composed before `data`.
    pub earlier: Vec<Value>,
}

/// The state a job starts from, as OpenFn's runtime assembles it: an object whose
/// `data` is `{}` when the input has none (so the first operation appends `{}` to
/// `references`). Anything but an object becomes `{"data": {}}`.
pub fn initial_state(input: Value) -> Value {
    let mut state = match input {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    match state.get("data") {
        None | Some(Value::Null) => {
            state.insert("data".into(), json!({}));
        }
        Some(_) => {}
    }
    Value::Object(state)
}

/// Applies an operation's output to `state` as `composeNextState(state, data)` does:
/// `data` is replaced, the previous `data` is appended to `references` (newest last),
/// and `response` is replaced when the operation made an exchange. Earlier results are
/// composed first, in order. A `state` that is not an object becomes one.
pub fn compose(state: &mut Value, output: OperationOutput) {
    if !state.is_object() {
        *state = json!({});
    }
    let map = state.as_object_mut().expect("made an object above");
    for earlier in output.earlier {
        push_data(map, earlier);
    }
    push_data(map, output.data);
    if let Some(response) = output.response {
        map.insert("response".into(), response);
    }
}

/// `data` becomes `data`; the previous `data` (or `null`) joins `references`.
fn push_data(state: &mut Map<String, Value>, data: Value) {
    let previous = state.insert("data".into(), data).unwrap_or(Value::Null);
    match state.entry("references").or_insert_with(|| json!([])) {
        Value::Array(items) => items.push(previous),
        other => *other = json!([other.take(), previous]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(data: Value) -> OperationOutput {
        OperationOutput {
            data,
            response: None,
            earlier: Vec::new(),
        }
    }

    #[test]
    fn initial_data_is_an_empty_object_as_in_openfn() {
        assert_eq!(initial_state(json!({})), json!({"data": {}}));
        assert_eq!(
            initial_state(json!({"data": null, "x": 1})),
            json!({"data": {}, "x": 1})
        );
        assert_eq!(initial_state(json!({"data": [1]})), json!({"data": [1]}));
        assert_eq!(initial_state(json!("junk")), json!({"data": {}}));
    }

    #[test]
    fn one_call_job_references_the_initial_empty_data() {
        let mut state = initial_state(json!({"configuration": {"a": 1}}));
        compose(&mut state, output(json!({"id": 1})));
        assert_eq!(
            state,
            json!({"configuration": {"a": 1}, "data": {"id": 1}, "references": [{}]})
        );
    }

    #[test]
    fn newest_reference_is_last_and_response_is_replaced() {
        let mut state = json!({"data": "a", "response": {"statusCode": 200}});
        compose(&mut state, output(json!("b")));
        assert_eq!(
            state["response"],
            json!({"statusCode": 200}),
            "kept when the operation made no exchange"
        );
        compose(
            &mut state,
            OperationOutput {
                data: json!("c"),
                response: Some(json!({"statusCode": 201})),
                earlier: Vec::new(),
            },
        );
        assert_eq!(state["data"], json!("c"));
        assert_eq!(state["references"], json!(["a", "b"]));
        assert_eq!(state["response"], json!({"statusCode": 201}));
    }

    #[test]
    fn earlier_results_are_composed_first() {
        let mut state = json!({"data": {}});
        compose(
            &mut state,
            OperationOutput {
                data: json!("notified"),
                response: None,
                earlier: vec![json!("created")],
            },
        );
        assert_eq!(state["data"], json!("notified"));
        assert_eq!(state["references"], json!([{}, "created"]));
    }

    #[test]
    fn missing_data_is_referenced_as_null_and_odd_references_are_kept() {
        let mut state = json!({"references": "odd"});
        compose(&mut state, output(json!(1)));
        assert_eq!(state["references"], json!(["odd", null]));
        let mut not_object = json!([1, 2]);
        compose(&mut not_object, output(json!(3)));
        assert_eq!(not_object, json!({"data": 3, "references": [null]}));
    }

    #[test]
    fn each_item_adds_one_reference() {
        let mut state = initial_state(json!({}));
        for i in 0..1000 {
            compose(&mut state, output(json!(i)));
        }
        assert_eq!(state["references"].as_array().map(Vec::len), Some(1000));
        assert_eq!(state["data"], json!(999));
    }
}
