//! JavaScript values to JSON with `JSON.stringify`'s rules (functions, `undefined` and
//! symbols vanish from objects and become `null` in arrays, `toJSON` is honoured, NaN
//! and infinities are `null`, cycles are a `TypeError`), walked in Rust: Boa's own
//! `JSON.stringify` is several times slower. The other direction is
//! `JsValue::from_json`.
//!
//! Also the [`Access`] of JavaScript values for JSONPath queries.

use boa_engine::property::PropertyKey;
use boa_engine::value::JsVariant;
use boa_engine::{Context, JsNativeError, JsObject, JsResult, JsString, JsValue, js_string};
use serde_json::{Map, Number, Value};

use crate::jsonpath::{Access, Key, Scalar};

/// Deepest nesting a value may have on its way out: what `serde_json` parses on the
/// host side by default.
pub const MAX_DEPTH: usize = 128;

/// `value` as JSON, `None` where `JSON.stringify` would give `undefined`.
pub fn to_json(value: &JsValue, context: &mut Context) -> JsResult<Option<Value>> {
    let mut seen = Vec::new();
    convert(value, context, &mut seen)
}

fn convert(value: &JsValue, context: &mut Context, seen: &mut Vec<JsObject>) -> JsResult<Option<Value>> {
    Ok(Some(match value.variant() {
        JsVariant::Null => Value::Null,
        JsVariant::Undefined | JsVariant::Symbol(_) => return Ok(None),
        JsVariant::Boolean(b) => Value::Bool(b),
        JsVariant::String(s) => Value::String(s.to_std_string_lossy()),
        JsVariant::Integer32(i) => Value::from(i),
        JsVariant::Float64(f) => number(f),
        JsVariant::BigInt(_) => {
            return Err(JsNativeError::typ()
                .with_message("Do not know how to serialize a BigInt")
                .into());
        }
        JsVariant::Object(object) => {
            if object.is_callable() {
                return Ok(None);
            }
            let to_json = object.get(js_string!("toJSON"), context)?;
            if let Some(f) = to_json.as_callable() {
                let replaced = f.call(value, &[], context)?;
                if replaced.as_object().is_none_or(|o| !JsObject::equals(&o, &object)) {
                    return convert(&replaced, context, seen);
                }
            }
            if seen.iter().any(|o| JsObject::equals(o, &object)) {
                return Err(JsNativeError::typ()
                    .with_message("Converting circular structure to JSON")
                    .into());
            }
            if seen.len() >= MAX_DEPTH {
                return Err(JsNativeError::range()
                    .with_message(format!(
                        "a value nests deeper than {MAX_DEPTH} levels, more than JSON state may"
                    ))
                    .into());
            }
            seen.push(object.clone());
            let converted = if object.is_array() {
                let length = object.get(js_string!("length"), context)?.to_length(context)?;
                let mut items = Vec::with_capacity(length.min(1 << 16) as usize);
                for i in 0..length {
                    let item = object.get(i, context)?;
                    items.push(convert(&item, context, seen)?.unwrap_or(Value::Null));
                }
                Value::Array(items)
            } else {
                let mut map = Map::new();
                for key in object.own_property_keys(context)? {
                    let name = match &key {
                        PropertyKey::String(s) => s.to_std_string_lossy(),
                        PropertyKey::Index(i) => i.get().to_string(),
                        PropertyKey::Symbol(_) => continue,
                    };
                    let descriptor = object.borrow().properties().get(&key);
                    let value = match descriptor {
                        Some(d) if d.enumerable() == Some(false) => continue,
                        Some(d) if !d.is_accessor_descriptor() => d.value().cloned().unwrap_or_default(),
                        _ => object.get(key, context)?,
                    };
                    if let Some(v) = convert(&value, context, seen)? {
                        map.insert(name, v);
                    }
                }
                Value::Object(map)
            };
            seen.pop();
            converted
        }
    }))
}

/// A JavaScript number as JSON: integral values without a fraction, as `JSON.stringify`
/// prints them; NaN and infinities as `null`.
fn number(f: f64) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// JavaScript values as JSONPath documents: queries walk the live objects, so matches
/// are the very objects of the state, as with jsonpath-plus.
pub struct JsAccess<'c> {
    /// The job's context.
    pub context: &'c mut Context,
}

impl Access for JsAccess<'_> {
    type Node = JsValue;

    fn get(&mut self, node: &JsValue, key: &str) -> Option<JsValue> {
        let key = JsString::from(key);
        match node.variant() {
            JsVariant::Object(object) => {
                let found = object.has_property(key.clone(), self.context).ok()?;
                let value = if found {
                    object.get(key, self.context).ok()?
                } else {
                    return None;
                };
                (!value.is_undefined()).then_some(value)
            }
            JsVariant::String(s) if key == js_string!("length") => Some(JsValue::new(s.len() as f64)),
            _ => None,
        }
    }

    fn children(&mut self, node: &JsValue) -> Vec<(Key, JsValue)> {
        let Some(object) = node.as_object() else {
            return Vec::new();
        };
        if object.is_callable() {
            return Vec::new();
        }
        let context = &mut *self.context;
        if object.is_array() {
            let length = object
                .get(js_string!("length"), context)
                .and_then(|l| l.to_length(context))
                .unwrap_or(0);
            return (0..length)
                .map(|i| (Key::Index(i as usize), object.get(i, context).unwrap_or_default()))
                .collect();
        }
        let Ok(keys) = object.own_property_keys(context) else {
            return Vec::new();
        };
        let mut children = Vec::new();
        for key in keys {
            let name = match &key {
                PropertyKey::String(s) => Key::Name(s.to_std_string_lossy()),
                PropertyKey::Index(i) => Key::Name(i.get().to_string()),
                PropertyKey::Symbol(_) => continue,
            };
            if object.borrow().properties().get(&key).and_then(|d| d.enumerable()) == Some(false) {
                continue;
            }
            if let Ok(value) = object.get(key, context) {
                children.push((name, value));
            }
        }
        children
    }

    fn scalar(&mut self, node: &JsValue) -> Scalar {
        match node.variant() {
            JsVariant::Null => Scalar::Null,
            JsVariant::Undefined => Scalar::Undefined,
            JsVariant::Boolean(b) => Scalar::Bool(b),
            JsVariant::String(s) => Scalar::Str(s.to_std_string_lossy()),
            JsVariant::Integer32(i) => Scalar::Num(f64::from(i)),
            JsVariant::Float64(f) => Scalar::Num(f),
            _ => Scalar::Object,
        }
    }

    fn make(&mut self, key: &Key) -> JsValue {
        match key {
            Key::Index(i) => JsValue::new(*i as f64),
            Key::Name(n) => JsValue::new(JsString::from(n.as_str())),
        }
    }
}
