//! `add-imports`: imports the adaptor functions the job uses without declaring them.

use oxc_ast::ast::{IdentifierReference, Program};
use oxc_ast_visit::Visit;
use oxc_semantic::Scoping;

/// JavaScript globals that are never imported when the adaptor's export list is unknown
/// (OpenFn's list, matched exactly).
const GLOBALS: &[&str] = &[
    "AggregateError",
    "Array",
    "ArrayBuffer",
    "AsyncFuction",
    "AsyncGenerator",
    "atob",
    "Atomics",
    "BigInt",
    "BigInt64Array",
    "BigUint64Array",
    "Blob",
    "Boolean",
    "btoa",
    "Buffer",
    "clearInterval",
    "clearTimeout",
    "console",
    "DataView",
    "Date",
    "decodeURI",
    "decodeURIComponent",
    "encodeURI",
    "encodeURIComponent",
    "Error",
    "eval",
    "EvalError",
    "Event",
    "exports",
    "FinalizationRegistry",
    "Float32Array",
    "Float64Array",
    "Function",
    "Generator",
    "global",
    "Infinity",
    "Int16Array",
    "Int32Array",
    "Int8Array",
    "isFinite",
    "isNaN",
    "JSON",
    "Map",
    "Math",
    "module",
    "Number",
    "Object",
    "parseFloat",
    "parseInt",
    "process",
    "Promise",
    "Proxy",
    "RangeError",
    "ReferenceError",
    "Reflect",
    "RegExp",
    "require",
    "Set",
    "setInterval",
    "setTimeout",
    "SharedArrayBuffer",
    "state",
    "String",
    "Symbol",
    "TypedArray",
    "Uint16Array",
    "Uint32Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "URIError",
    "URL",
    "WeakMap",
    "WeakRef",
    "WeakSet",
];

/// Names used in `program` but declared nowhere in it, in order of first use.
pub(crate) fn dangling(program: &Program<'_>, scoping: &Scoping) -> Vec<String> {
    let mut collector = Collector {
        scoping,
        names: Vec::new(),
    };
    collector.visit_program(program);
    collector.names
}

/// Which dangling names to import from the adaptor: those it exports (in the order of
/// `exports`), or, when `exports` is empty (unknown), every one that is not a JS global.
pub(crate) fn select(dangling: &[String], exports: &[&str]) -> Vec<String> {
    if exports.is_empty() {
        return dangling
            .iter()
            .filter(|name| !GLOBALS.contains(&name.as_str()))
            .cloned()
            .collect();
    }
    let mut chosen: Vec<String> = Vec::new();
    for &export in exports {
        if dangling.iter().any(|d| d == export) && !chosen.iter().any(|c| c == export) {
            chosen.push(export.to_string());
        }
    }
    chosen
}

/// `import { a, b } from "<adaptor>";` and `export * from "<adaptor>";` (the latter exposes
/// the adaptor's `execute` to the runtime).
pub(crate) fn header(adaptor: &str, names: &[String]) -> String {
    let quoted = quote(adaptor);
    format!(
        "import {{ {} }} from {quoted};\nexport * from {quoted};\n",
        names.join(", ")
    )
}

/// A double-quoted JavaScript string literal.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Collector<'s> {
    scoping: &'s Scoping,
    names: Vec<String>,
}

impl<'a> Visit<'a> for Collector<'_> {
    fn visit_identifier_reference(&mut self, ident: &IdentifierReference<'a>) {
        let name = ident.name.as_str();
        // `undefined` and `NaN` are identifiers in the grammar but never imported.
        if name == "undefined" || name == "NaN" {
            return;
        }
        let unresolved = ident
            .reference_id
            .get()
            .is_none_or(|r| self.scoping.get_reference(r).symbol_id().is_none());
        if unresolved && !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
    }
}
