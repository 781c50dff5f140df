//! The modules a job may import, served by a module loader from memory:
//! `@openfn/language-common` (`common.js`), the job's adaptor (language-common's
//! exports and its operations, each a function that calls the host), and
//! `@openfn/runtime` (`defer`, which the compiler's promise rewrite imports).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;

use boa_engine::module::{Module, ModuleLoader, ModuleRequest, Referrer, SyntheticModuleInitializer};
use boa_engine::object::builtins::JsArray;
use boa_engine::property::PropertyKey;
use boa_engine::{Context, JsNativeError, JsObject, JsResult, JsString, JsValue, Source, js_string};
use serde_json::{Value, json};

use crate::exports::openfn::runtime::job::JobOptions;

/// language-common's job API.
const COMMON_SOURCE: &str = include_str!("common.js");
const COMMON: &str = "@openfn/language-common";
const RUNTIME: &str = "@openfn/runtime";

/// The names `common.js` exports to jobs (the compiler imports the ones a job uses).
const COMMON_EXPORTS: [&str; 39] = [
    "_",
    "alterState",
    "arrayToString",
    "as",
    "assert",
    "beta",
    "chunk",
    "combine",
    "composeNextState",
    "cursor",
    "dataPath",
    "dataValue",
    "dateFns",
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
    "validate",
];

/// Adaptor functions that are plain functions in the JavaScript adaptors, not
/// operations: the adaptor module defines them in JavaScript (with language-common's
/// `util` in scope) instead of calling the host.
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

/// Where the adaptor's module takes the job's operations from: a synthetic module.
const OPERATIONS: &str = "openfn:operations";
/// Where the entry module takes the job's module from.
const JOB: &str = "openfn:job";

/// The module the runner evaluates and reads the job's operations from. Reading
/// `default` from the job module itself would make its namespace, which resolves every
/// name of its `export * from <adaptor>`; this one has one name.
const ENTRY: &str = "export { default } from \"openfn:job\";\n";

/// The source of the adaptor's module: language-common's exports and the operations, as
/// live bindings, so an export language-common rebinds (a part loaded on first use)
/// is seen rebound. The operations in `shadowing`, whose names language-common exports
/// too, are also re-exported by name: a named export wins over `export *`, as an
/// adaptor's own operation wins over language-common's.
fn adaptor_source(shadowing: &[&str]) -> String {
    let quote = |s: &str| Value::String(s.to_string()).to_string();
    let mut text = format!(
        "export * from {};\nexport * from {};\n",
        quote(COMMON),
        quote(OPERATIONS)
    );
    for name in shadowing {
        text.push_str(&format!("export {{ {} }} from {};\n", quote(name), quote(OPERATIONS)));
    }
    text
}

/// Serves the modules a job may import; anything else is an error naming them.
///
/// What does not depend on the job (language-common, `@openfn/runtime`, the entry
/// module) is parsed when the context is prepared, so a pre-initialized instance has
/// it; a job adds its adaptor's modules and its own.
#[derive(Default)]
pub struct Loader {
    /// The job's adaptor (its package name); empty until [`Loader::add_adaptor`].
    adaptor: RefCell<String>,
    modules: RefCell<HashMap<String, Module>>,
    entry: RefCell<Option<Module>>,
    /// The names language-common exports, once it is evaluated.
    common_names: RefCell<HashSet<String>>,
}

impl Loader {
    /// Parses language-common, `@openfn/runtime` and the entry module (none evaluated).
    pub fn prepare(&self, context: &mut Context) -> JsResult<()> {
        let runtime = format!("export {{ __defer as defer }} from {};\n", Value::from(COMMON));
        for (name, code) in [(COMMON, COMMON_SOURCE), (RUNTIME, runtime.as_str())] {
            let module = parse(context, name, code)?;
            self.modules.borrow_mut().insert(name.to_string(), module);
        }
        *self.entry.borrow_mut() = Some(parse(context, "entry", ENTRY)?);
        Ok(())
    }

    /// Records the names language-common exports; call it once it is evaluated.
    pub fn common_evaluated(&self, context: &mut Context) -> JsResult<()> {
        let namespace = self.common().namespace(context);
        let names = namespace
            .own_property_keys(context)?
            .into_iter()
            .filter_map(|key| match key {
                PropertyKey::String(name) => Some(name.to_std_string_lossy()),
                _ => None,
            });
        *self.common_names.borrow_mut() = names.collect();
        Ok(())
    }

    /// Adds the modules of the job's adaptor, `options.adaptor`: its module (see
    /// [`adaptor_source`], a few lines) and the synthetic module of its operations, one
    /// function per operation, which resolves its arguments and calls the host (built
    /// here, not generated as source: parsing that cost more than the rest of a small
    /// job).
    pub fn add_adaptor(&self, context: &mut Context, options: &JobOptions) -> JsResult<()> {
        *self.adaptor.borrow_mut() = options.adaptor.clone();
        // The `common` adaptor's package is language-common itself.
        if options.adaptor == COMMON {
            return Ok(());
        }
        let common = self.common().namespace(context);
        let operation = common.get(js_string!("__operation"), context)?;
        let operation = operation
            .as_callable()
            .ok_or_else(|| JsNativeError::typ().with_message("language-common has no __operation"))?;
        let util = common.get(js_string!("util"), context)?;
        let (mut names, mut values) = (Vec::new(), Vec::new());
        let mut verbs = Vec::new();
        for op in &options.operations {
            let name = JsString::from(op.name.as_str());
            let value = match PLAIN.iter().find(|(plain, _)| *plain == op.name) {
                // `util => <definition>`, called with language-common's util.
                Some((_, code)) => {
                    let make = context.eval(Source::from_bytes(&format!("util => {code}")))?;
                    let make = make
                        .as_callable()
                        .ok_or_else(|| JsNativeError::typ().with_message("a plain adaptor function"))?;
                    make.call(&JsValue::undefined(), std::slice::from_ref(&util), context)?
                }
                None => {
                    let params = op.params.iter().map(|p| JsValue::from(JsString::from(p.as_str())));
                    let params = JsArray::from_iter(params, context);
                    operation.call(&JsValue::undefined(), &[name.clone().into(), params.into()], context)?
                }
            };
            if HTTP.contains(&op.name.as_str()) {
                verbs.push((name.clone(), value.clone()));
            }
            names.push(name);
            values.push(value);
        }
        if !verbs.is_empty() {
            let http = JsObject::with_object_proto(context.intrinsics());
            for (name, value) in verbs {
                http.create_data_property_or_throw(name, value, context)?;
            }
            names.push(js_string!("http"));
            values.push(http.into());
        }
        let operations = Module::synthetic(
            &names,
            SyntheticModuleInitializer::from_copy_closure_with_captures(
                |module, exports: &(Vec<JsString>, Vec<JsValue>), _| {
                    for (name, value) in exports.0.iter().zip(&exports.1) {
                        module.set_export(name, value.clone())?;
                    }
                    Ok(())
                },
                (names.clone(), values),
            ),
            Some(PathBuf::from(OPERATIONS)),
            None,
            context,
        );
        let names: Vec<String> = names.iter().map(JsString::to_std_string_lossy).collect();
        let shadowing: Vec<&str> = {
            let common_names = self.common_names.borrow();
            names
                .iter()
                .map(String::as_str)
                .filter(|n| common_names.contains(*n))
                .collect()
        };
        let module = parse(context, &options.adaptor, &adaptor_source(&shadowing))?;
        let mut modules = self.modules.borrow_mut();
        modules.insert(OPERATIONS.to_string(), operations);
        modules.insert(options.adaptor.clone(), module);
        Ok(())
    }

    /// The module to evaluate for the job whose module is `job`: its `default` export is
    /// the job's.
    pub fn entry(&self, job: Module) -> JsResult<Module> {
        self.modules.borrow_mut().insert(JOB.to_string(), job);
        self.entry
            .borrow_mut()
            .take()
            .ok_or_else(|| JsNativeError::typ().with_message("a second job in one instance").into())
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

/// Parses the module `name` (not yet linked).
fn parse(context: &mut Context, name: &str, code: &str) -> JsResult<Module> {
    Module::parse(
        Source::from_bytes(code).with_path(std::path::Path::new(name)),
        None,
        context,
    )
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
