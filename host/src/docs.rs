//! An adaptor's documentation, carried in its component: a custom section named
//! `openfn:docs` holding `{"interface": text, "operations": {"<wit name>": text}}`,
//! the doc comments of its WIT `operations` interface. `host/build.rs` appends it to
//! the adaptors it builds; any adaptor built elsewhere can carry the same section.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The name of the custom section.
pub const SECTION: &str = "openfn:docs";

/// The documentation of an adaptor's operations.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Docs {
    /// The `operations` interface's doc comment: what the adaptor does, its
    /// configuration and conventions.
    #[serde(default)]
    pub interface: String,
    /// Each operation's doc comment, by WIT (kebab-case) name.
    #[serde(default)]
    pub operations: BTreeMap<String, String>,
}

impl Docs {
    /// The docs in a component's `openfn:docs` section; empty when it has none or the
    /// section is not the JSON described above.
    pub fn from_component(bytes: &[u8]) -> Docs {
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let Ok(payload) = payload else { break };
            if let wasmparser::Payload::CustomSection(section) = payload
                && section.name() == SECTION
            {
                return serde_json::from_slice(section.data()).unwrap_or_default();
            }
        }
        Docs::default()
    }
}
