//! The natives language-common is built on, installed as the global `__openfn` (which
//! `common.js` takes and deletes before any job code runs): the host's operation call
//! and log, JSONPath, Base64, UUIDs, and the loader of the parts of the job API that
//! are evaluated only when a job first uses them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use boa_engine::object::builtins::JsProxyBuilder;
use boa_engine::object::{FunctionObjectBuilder, ObjectInitializer};
use boa_engine::property::Attribute;
use boa_engine::property::PropertyDescriptor;
use boa_engine::{
    Context, JsArgs, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction, Source, js_string,
};
use serde_json::Value;

use crate::json::{self, JsAccess};
use crate::jsonpath;
use crate::openfn::adaptor::host::{self, Level};
use crate::openfn::runtime::adaptor::call_operation;

/// Creates the natives object and makes it the global `__openfn`.
pub fn install(context: &mut Context) -> JsResult<JsObject> {
    let natives = ObjectInitializer::new(context)
        .function(NativeFunction::from_fn_ptr(call), js_string!("call"), 2)
        .function(NativeFunction::from_fn_ptr(log), js_string!("log"), 3)
        .function(NativeFunction::from_fn_ptr(query), js_string!("jsonpath"), 2)
        .function(NativeFunction::from_fn_ptr(uuid), js_string!("uuid"), 0)
        .function(NativeFunction::from_fn_ptr(encode), js_string!("encode"), 1)
        .function(NativeFunction::from_fn_ptr(decode), js_string!("decode"), 1)
        .function(NativeFunction::from_fn_ptr(load), js_string!("load"), 1)
        .function(NativeFunction::from_fn_ptr(stand_in), js_string!("standIn"), 2)
        .build();
    context.register_global_property(js_string!("__openfn"), natives.clone(), Attribute::all())?;
    Ok(natives)
}

fn text(value: &JsValue, context: &mut Context) -> JsResult<String> {
    Ok(value.to_string(context)?.to_std_string_lossy())
}

/// `call(name, args)`: runs the adaptor operation; `[true, output]` or `[false, {kind,
/// message, details}]`.
fn call(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let name = text(args.get_or_undefined(0), context)?;
    let arguments = json::to_json(args.get_or_undefined(1), context)?.unwrap_or(Value::Array(Vec::new()));
    let result = match call_operation(&name, &arguments.to_string()) {
        Ok(output) => {
            let output: Value = serde_json::from_str(&output)
                .map_err(|e| JsNativeError::typ().with_message(format!("the host's output is not JSON: {e}")))?;
            Value::Array(vec![Value::Bool(true), output])
        }
        Err(error) => {
            let details: Value = serde_json::from_str(&error.details).unwrap_or(Value::Null);
            let details = if details.is_object() {
                details
            } else {
                Value::Object(Default::default())
            };
            serde_json::json!([false, {"kind": error.kind, "message": error.message, "details": details}])
        }
    };
    JsValue::from_json(&result, context)
}

/// `log(source, level, text)`: one line of the job's log, `SOURCE text`.
fn log(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let source = text(args.get_or_undefined(0), context)?;
    let level = match text(args.get_or_undefined(1), context)?.as_str() {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "warn" => Level::Warn,
        "error" => Level::Error,
        _ => Level::Info,
    };
    let message = text(args.get_or_undefined(2), context)?;
    host::log(level, &format!("{source} {message}"));
    Ok(JsValue::undefined())
}

/// `jsonpath(path, root)`: every match, as an array.
fn query(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let path = text(args.get_or_undefined(0), context)?;
    let parsed = jsonpath::parse(&path).map_err(|e| JsNativeError::syntax().with_message(e))?;
    let root = args.get_or_undefined(1).clone();
    let matches = jsonpath::query(&mut JsAccess { context }, &parsed, &root);
    Ok(boa_engine::object::builtins::JsArray::from_iter(matches, context).into())
}

/// `uuid()`: a random (version 4) UUID.
fn uuid(_: &JsValue, _: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    let mut b = wasip2::random::random::get_random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    Ok(JsValue::new(JsString::from(id.as_str())))
}

/// `encode(text)`: Base64 of the UTF-8 bytes.
fn encode(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let text = text(args.get_or_undefined(0), context)?;
    Ok(JsValue::new(JsString::from(STANDARD.encode(text.as_bytes()).as_str())))
}

/// `decode(base64)`: the UTF-8 text (invalid bytes replaced).
fn decode(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let encoded = text(args.get_or_undefined(0), context)?;
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|e| JsNativeError::typ().with_message(format!("not Base64: {e}")))?;
    Ok(JsValue::new(JsString::from(String::from_utf8_lossy(&bytes).as_ref())))
}

/// The parts of language-common's job API that most jobs never use, each a script whose
/// value is a function of `common.js`'s internals that makes the part: lodash as `_`,
/// `dateFns`, the extras (`validate`, `beta.each`, `parseCsv`, the rarer `util`
/// helpers), and `validate`'s JSON Schema validator. Keeping them out of `common.js`
/// keeps them out of every job's start-up.
const LAZY: [(&str, &str); 4] = [
    ("lodash", include_str!("lodash.js")),
    ("dateFns", include_str!("datefns.js")),
    ("extras", include_str!("extras.js")),
    ("validator", include_str!("validator.js")),
];

/// `load(name)`: evaluates the lazily loaded part `name` and returns its value
/// (`common.js` calls it once per part and job).
fn load(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let name = text(args.get_or_undefined(0), context)?;
    let (file, source) = LAZY
        .iter()
        .find(|(part, _)| *part == name)
        .ok_or_else(|| JsNativeError::typ().with_message(format!("no lazily loaded part named {name:?}")))?;
    let path = format!("@openfn/language-common/{file}.js");
    context.eval(Source::from_bytes(source).with_path(std::path::Path::new(&path)))
}

/// Where a stand-in's target keeps the function that makes the real value.
const REAL: &str = "__real";

/// `standIn(real, callable)`: a Proxy standing in for a lazily loaded part (a function
/// when `callable`, else an object). Every trap calls `real()`, which loads the part
/// (and rebinds the export to it), then does the same to the part through `Reflect`.
/// Native, so that a job that never uses the part pays nothing to compile it.
fn stand_in(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let real = args.get_or_undefined(0).clone();
    let target: JsObject = if args.get_or_undefined(1).to_boolean() {
        FunctionObjectBuilder::new(
            context.realm(),
            NativeFunction::from_fn_ptr(|_, _, _| Ok(JsValue::undefined())),
        )
        .build()
        .into()
    } else {
        JsObject::with_object_proto(context.intrinsics())
    };
    target.define_property_or_throw(
        JsString::from(REAL),
        PropertyDescriptor::builder()
            .value(real)
            .writable(false)
            .enumerable(false)
            .configurable(true),
        context,
    )?;
    let proxy = JsProxyBuilder::new(target)
        .get(|_, args, context| forward("get", &args[..2.min(args.len())], context))
        .set(|_, args, context| forward("set", &args[..3.min(args.len())], context))
        .has(|_, args, context| forward("has", args, context))
        .delete_property(|_, args, context| forward("deleteProperty", args, context))
        .own_keys(|_, args, context| forward("ownKeys", args, context))
        .get_own_property_descriptor(|_, args, context| {
            // Configurable, as the target has no such property (a Proxy invariant).
            let descriptor = forward("getOwnPropertyDescriptor", args, context)?;
            if let Some(object) = descriptor.as_object() {
                object.set(js_string!("configurable"), true, false, context)?;
            }
            Ok(descriptor)
        })
        .apply(|_, args, context| forward("apply", args, context))
        .build(context)?;
    Ok(proxy.into())
}

/// A stand-in's trap: `Reflect[trap](real(), ...rest)` for the trap's `[target, ...rest]`.
fn forward(trap: &str, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let target = args
        .first()
        .and_then(JsValue::as_object)
        .ok_or_else(|| JsNativeError::typ().with_message("a stand-in's trap without its target"))?;
    let make = target.get(JsString::from(REAL), context)?;
    let make = make
        .as_callable()
        .ok_or_else(|| JsNativeError::typ().with_message("a stand-in without the function that makes its value"))?;
    let real = make.call(&JsValue::undefined(), &[], context)?;
    let reflect = context.intrinsics().objects().reflect();
    let function = reflect.get(JsString::from(trap), context)?;
    let function = function
        .as_callable()
        .ok_or_else(|| JsNativeError::typ().with_message(format!("Reflect.{trap} is missing")))?;
    let mut forwarded = vec![real];
    forwarded.extend_from_slice(&args[1..]);
    function.call(&JsValue::undefined(), &forwarded, context)
}
