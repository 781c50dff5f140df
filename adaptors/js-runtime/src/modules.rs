//! The modules a job may import, served by a module loader from memory:
//! `@openfn/language-common` (`common.js`), the job's adaptor (generated from its
//! operation list: each operation a function that calls the host), and
//! `@openfn/runtime` (`defer`, which the compiler's promise rewrite imports).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use std::path::PathBuf;

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

    /// Makes the module of the job's adaptor, `options.adaptor`: language-common's
    /// exports (as the JavaScript adaptors re-export them) and one function per
    /// operation, which resolves its arguments and calls the host. It is a synthetic
    /// module, built here rather than parsed: parsing a generated module cost more than
    /// the rest of a small job.
    pub fn add_adaptor(&self, context: &mut Context, options: &JobOptions) -> JsResult<()> {
        *self.adaptor.borrow_mut() = options.adaptor.clone();
        // The `common` adaptor's package is language-common itself.
        if options.adaptor == COMMON {
            return Ok(());
        }
        let common = self.common().namespace(context);
        let mut exports: HashMap<JsString, JsValue> = HashMap::new();
        for key in common.own_property_keys(context)? {
            if let PropertyKey::String(name) = key {
                let value = common.get(name.clone(), context)?;
                exports.insert(name, value);
            }
        }
        let operation = common.get(js_string!("__operation"), context)?;
        let operation = operation
            .as_callable()
            .ok_or_else(|| JsNativeError::typ().with_message("language-common has no __operation"))?;
        let util = common.get(js_string!("util"), context)?;
        let mut verbs = Vec::new();
        for op in &options.operations {
            let name = JsString::from(op.name.as_str());
            let value = match PLAIN.iter().find(|(plain, _)| *plain == op.name) {
                // `util => <definition>`, called with language-common's util.
                Some((_, code)) => {
                    let code = format!("util => {code}");
                    let make = context.eval(Source::from_bytes(&code))?;
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
            // An operation wins over a language-common name, as a local export does
            // over `export *`.
            exports.insert(name, value);
        }
        if !verbs.is_empty() {
            let http = JsObject::with_object_proto(context.intrinsics());
            for (name, value) in verbs {
                http.create_data_property_or_throw(name, value, context)?;
            }
            exports.insert(js_string!("http"), http.into());
        }
        let (names, values): (Vec<JsString>, Vec<JsValue>) = exports.into_iter().unzip();
        let module = Module::synthetic(
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
            Some(PathBuf::from(&options.adaptor)),
            None,
            context,
        );
        self.modules.borrow_mut().insert(options.adaptor.clone(), module);
        Ok(())
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
