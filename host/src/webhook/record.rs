//! Which record an OpenCRVS event is about, so that a receiver running events
//! concurrently can still run one record's events (registered, certified, corrected)
//! one after another, in arrival order.

use serde_json::Value;

/// The record an OpenCRVS webhook event (`{"event": {"context": [bundle]}}`) is
/// about: the `focus` of the Task in its bundle (`Composition/<id>`, the same in every
/// event about one registration), or the Task's `id` when it has no focus. `None` when
/// the event carries no Task (then it is related to no other event).
///
/// The Task is the one resource OpenCRVS keeps in every delivery, also in the bundles
/// it cuts down for webhook clients.
pub fn record_of(event: &Value) -> Option<String> {
    let bundles = event.pointer("/event/context")?.as_array()?;
    let task = bundles
        .iter()
        .filter_map(|bundle| bundle["entry"].as_array())
        .flatten()
        .map(|entry| &entry["resource"])
        .find(|resource| resource["resourceType"] == "Task")?;
    let key = task["focus"]["reference"].as_str().or_else(|| task["id"].as_str())?;
    Some(key.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(task: Value) -> Value {
        json!({"event": {"hub": {"topic": "BIRTH_CORRECTED"}, "context": [{"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Patient", "id": "child"}},
            {"resource": task}
        ]}]}})
    }

    #[test]
    fn the_record_is_the_tasks_focus_or_its_id() {
        let focused = event(json!({"resourceType": "Task", "id": "t1", "focus": {"reference": "Composition/c1"}}));
        assert_eq!(record_of(&focused).as_deref(), Some("Composition/c1"));
        let unfocused = event(json!({"resourceType": "Task", "id": "t1"}));
        assert_eq!(record_of(&unfocused).as_deref(), Some("t1"));
        for unrelated in [
            event(json!({"resourceType": "Task"})),
            event(json!({"resourceType": "Observation", "id": "o1"})),
            json!({"event": {"context": "not a list"}}),
            json!([1, 2]),
        ] {
            assert_eq!(record_of(&unrelated), None, "{unrelated}");
        }
    }
}
