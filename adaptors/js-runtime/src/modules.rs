//! The modules a job may import, served by a module loader from memory:
//! `@openfn/language-common` (`common.js`), the job's adaptor (generated from its
//! operation list: each operation a function that calls the host), and
//! `@openfn/runtime` (`defer`, which the compiler's promise rewrite imports).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use boa_engine::module::{Module, ModuleLoader, ModuleRequest, Referrer};
use boa_engine::{Context, JsNativeError, JsResult, Source};
use serde_json::{Value, json};

use crate::exports::openfn::runtime::job::JobOptions;

/// language-common's job API.
const COMMON_SOURCE: &str = include_str!("common.js");
const COMMON: &str = "@openfn/language-common";
const RUNTIME: &str = "@openfn/runtime";

/// The names `common.js` exports to jobs (the compiler imports the ones a job uses).
const COMMON_EXPORTS: [&str; 35] = [
    "alterState",
    "arrayToString",
    "as",
    "assert",
    "chunk",
    "combine",
    "composeNextState",
    "cursor",
    "dataPath",
    "dataValue",
    "debug",
    "each",
    "execute",
    "expandReferences",
    "field",
    "fields",
    "fn",
    "fnIf",
    "group",
    "humanProper",
    "index",
    "join",
    "jsonValue",
    "lastReferenceValue",
    "log",
    "map",
    "merge",
    "parseCsv",
    "referencePath",
    "scrubEmojis",
    "source",
    "sourceValue",
    "splitKeys",
    "toArray",
    "util",
];

/// Adaptor functions that are plain functions in the JavaScript adaptors, not
/// operations: the adaptor module defines them in JavaScript instead of calling the host.
const PLAIN: [(&str, &str); 1] = [(
    // language-opencrvs: a FHIR bundle entry for `resource`.
    "createDocumentEntry",
    "(resource, fullUrl) => ({ fullUrl: fullUrl || `urn:uuid:${util.uuid()}`, resource: { ...resource } })",
)];

/// Operations that also appear under the `http` namespace, as language-common's
/// `http.request(method, path, body, options)`, `http.get`, `http.post`, ...
const HTTP: [&str; 6] = ["request", "get", "post", "put", "patch", "delete"];

/// Compiles the job: the module's code, and `[{name, line}]` of its operations in order.
pub fn compile(source: &str, options: &JobOptions) -> Result<(String, Value), openfn_compiler::CompileError> {
    let mut exports: Vec<&str> = COMMON_EXPORTS.to_vec();
    exports.extend(options.operations.iter().map(|o| o.name.as_str()));
    if options.operations.iter().any(|o| HTTP.contains(&o.name.as_str())) {
        exports.push("http");
    }
    let compiled = openfn_compiler::compile(
        source,
        &openfn_compiler::Options {
            adaptor: Some(&options.adaptor),
            exports: &exports,
        },
    )?;
    let infos: Vec<Value> = compiled
        .operations
        .iter()
        .map(|o| json!({"name": o.name, "line": o.line}))
        .collect();
    Ok((compiled.code, Value::Array(infos)))
}

/// The JavaScript text of the adaptor's module.
fn adaptor_source(options: &JobOptions) -> String {
    let quote = |s: &str| Value::String(s.to_string()).to_string();
    let mut text = format!(
        "import {{ __operation, util }} from {c};\nexport * from {c};\n",
        c = quote(COMMON)
    );
    for (i, operation) in options.operations.iter().enumerate() {
        let plain = PLAIN.iter().find(|(name, _)| *name == operation.name);
        let definition = match plain {
            Some((_, code)) => code.to_string(),
            None => format!(
                "__operation({}, {})",
                quote(&operation.name),
                Value::from(operation.params.clone())
            ),
        };
        text.push_str(&format!(
            "const op{i} = {definition};\nexport {{ op{i} as {} }};\n",
            quote(&operation.name)
        ));
    }
    let verbs: Vec<String> = options
        .operations
        .iter()
        .enumerate()
        .filter(|(_, o)| HTTP.contains(&o.name.as_str()))
        .map(|(i, o)| format!("{}: op{i}", quote(&o.name)))
        .collect();
    if !verbs.is_empty() {
        text.push_str(&format!("export const http = {{ {} }};\n", verbs.join(", ")));
    }
    text
}

/// Serves the three modules; anything else is an error naming what may be imported.
///
/// language-common and `@openfn/runtime` are parsed when the context is prepared (so a
/// pre-initialized instance has them); the job's adaptor module when the job starts.
#[derive(Default)]
pub struct Loader {
    /// The job's adaptor (its package name); empty until [`Loader::add_adaptor`].
    adaptor: RefCell<String>,
    modules: RefCell<HashMap<String, Module>>,
}

impl Loader {
    /// Parses language-common and `@openfn/runtime` (not yet evaluated).
    pub fn prepare(&self, context: &mut Context) -> JsResult<()> {
        let runtime = format!("export {{ __defer as defer }} from {};\n", Value::from(COMMON));
        self.parse(context, COMMON, COMMON_SOURCE)?;
        self.parse(context, RUNTIME, &runtime)
    }

    /// Parses the module of the job's adaptor, `options.adaptor`, from its operations.
    pub fn add_adaptor(&self, context: &mut Context, options: &JobOptions) -> JsResult<()> {
        *self.adaptor.borrow_mut() = options.adaptor.clone();
        // The `common` adaptor's package is language-common itself.
        if options.adaptor == COMMON {
            return Ok(());
        }
        self.parse(context, &options.adaptor, &adaptor_source(options))
    }

    fn parse(&self, context: &mut Context, name: &str, code: &str) -> JsResult<()> {
        let module = Module::parse(
            Source::from_bytes(code).with_path(std::path::Path::new(name)),
            None,
            context,
        )?;
        self.modules.borrow_mut().insert(name.to_string(), module);
        Ok(())
    }

    /// The language-common module.
    pub fn common(&self) -> Module {
        self.modules.borrow()[COMMON].clone()
    }

    fn find(&self, specifier: &str) -> JsResult<Module> {
        // `@openfn/language-x@1.2.3` → `@openfn/language-x`.
        let name = match specifier.strip_prefix('@') {
            Some(rest) => match rest.split_once('@') {
                Some((package, _version)) => format!("@{package}"),
                None => specifier.to_string(),
            },
            None => specifier.to_string(),
        };
        self.modules.borrow().get(&name).cloned().ok_or_else(|| {
            JsNativeError::typ()
                .with_message(format!(
                    "Cannot find module '{specifier}': a job may import only {}, {COMMON} and {RUNTIME}",
                    self.adaptor.borrow()
                ))
                .into()
        })
    }
}

impl ModuleLoader for Loader {
    fn load_imported_module(
        self: Rc<Self>,
        _referrer: Referrer,
        request: ModuleRequest,
        _context: &RefCell<&mut Context>,
    ) -> impl Future<Output = JsResult<Module>> {
        std::future::ready(self.find(&request.specifier().to_std_string_lossy()))
    }
}
