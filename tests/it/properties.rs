//! Property tests of the parsers that take untrusted text: jobs and `--allow-host`
//! rules never panic, and every accepted rule reads back from its own text.
//! (`$` references and JSON-to-component conversion have theirs beside the code:
//! `job::refs` and `values`.)

use adaptor_host::{AllowRule, Job};
use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value up to 6 levels deep, with keys and strings a job might hold.
fn json() -> impl Strategy<Value = Value> {
    let text = || {
        prop_oneof![
            prop::sample::select(vec![
                "each",
                "fnIf",
                "combine",
                "log",
                "cursor",
                "get",
                "$.data[*]",
                "key"
            ])
            .prop_map(String::from),
            any::<String>(),
        ]
    };
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn job_parse_never_panics_on_any_text(text in any::<String>()) {
        let _ = Job::parse(&text);
    }

    #[test]
    fn job_parse_never_panics_on_any_json_and_keeps_every_step(value in json()) {
        if let Ok(job) = Job::parse(&value.to_string()) {
            prop_assert_eq!(Some(job.steps.len()), value.as_array().map(Vec::len));
        }
    }

    #[test]
    fn allow_rule_parse_never_panics(text in any::<String>()) {
        let _ = text.parse::<AllowRule>();
    }

    #[test]
    fn accepted_allow_rules_read_back_from_their_text(
        text in "(https?|HTTP|ftp)://(\\*\\.)?([a-z0-9-]{1,8}\\.){0,3}[a-zA-Z0-9-]{1,8}(:[0-9]{1,6})?/?",
    ) {
        if let Ok(rule) = text.parse::<AllowRule>() {
            let shown = rule.to_string();
            prop_assert_eq!(shown.parse::<AllowRule>(), Ok(rule), "{} -> {}", text, shown);
        }
    }

    #[test]
    fn accepted_ipv6_rules_read_back_from_their_text(
        text in "https?://\\[[0-9a-f:]{2,20}\\](:[0-9]{1,5})?",
    ) {
        if let Ok(rule) = text.parse::<AllowRule>() {
            let shown = rule.to_string();
            prop_assert_eq!(shown.parse::<AllowRule>(), Ok(rule), "{} -> {}", text, shown);
        }
    }
}
