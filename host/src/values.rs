//! Converting job arguments (JSON) to component values by their WIT types, and
//! component results back to JSON.
//!
//! The rules, from JSON to WIT:
//! - `string`: a JSON string as it is; any other JSON value as its JSON text (so a
//!   `json` parameter, which is a `string` to the component model, takes any value);
//! - integers and floats: JSON numbers in range; `bool`: `true`/`false`; `char`: a
//!   one-character string;
//! - `option<T>`: `null` (or a missing trailing argument / record field) is `none`;
//! - `list<T>`: an array; `list<tuple<string, T>>` also takes an object, entry by entry
//!   (`{"query": {"size": 10}}`);
//! - `record`: an object with camelCase (or kebab-case) keys; unknown keys are refused;
//! - `enum`: a case name in any letter case (`"GET"`, `"get"`); `flags`: an array of names;
//! - `variant`: a case name, or `{"case": payload}`; `result`: `{"ok": v}` / `{"err": e}`;
//! - `tuple`: an array of the right length.
//!
//! Resources, futures and streams cannot come from JSON and are refused.

use serde_json::{Map, Value};
use wasmtime::component::{Type, Val};

use crate::names::{camel_case, kebab_case};
use crate::sandbox::limits::{Limit, MAX_DEPTH, json_size};

/// The message for a type or value nested too deep.
fn too_deep() -> String {
    format!("breaks the {}", Limit::Depth(MAX_DEPTH))
}

/// Converts `value` to a component value of type `ty`, or says what was expected.
///
/// Neither the value nor the type may nest deeper than [`MAX_DEPTH`]: the conversion
/// recurses on both, and a component's types are as untrusted as a job's values.
pub fn to_val(value: &Value, ty: &Type) -> Result<Val, String> {
    if json_size(value, u64::MAX).is_err() {
        return Err(format!("the value {}", too_deep()));
    }
    convert(value, ty, 1)
}

/// [`to_val`] for a value `depth` levels into the argument.
fn convert(value: &Value, ty: &Type, depth: usize) -> Result<Val, String> {
    if depth > MAX_DEPTH {
        return Err(format!("the type {}", too_deep()));
    }
    let to_val = |value: &Value, ty: &Type| convert(value, ty, depth + 1);
    Ok(match ty {
        Type::Bool => Val::Bool(value.as_bool().ok_or_else(|| expected("a boolean", value))?),
        Type::S8 => Val::S8(int(value, "s8")?),
        Type::U8 => Val::U8(int(value, "u8")?),
        Type::S16 => Val::S16(int(value, "s16")?),
        Type::U16 => Val::U16(int(value, "u16")?),
        Type::S32 => Val::S32(int(value, "s32")?),
        Type::U32 => Val::U32(int(value, "u32")?),
        Type::S64 => Val::S64(int(value, "s64")?),
        Type::U64 => Val::U64(int(value, "u64")?),
        #[allow(clippy::cast_possible_truncation, reason = "f32 parameters take the nearest f32")]
        Type::Float32 => Val::Float32(value.as_f64().ok_or_else(|| expected("a number (f32)", value))? as f32),
        Type::Float64 => Val::Float64(value.as_f64().ok_or_else(|| expected("a number (f64)", value))?),
        Type::Char => {
            let s = value
                .as_str()
                .ok_or_else(|| expected("a one-character string", value))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(expected("a one-character string", value)),
            }
        }
        Type::String => Val::String(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        Type::Option(inner) => match value {
            Value::Null => Val::Option(None),
            v => Val::Option(Some(Box::new(to_val(v, &inner.ty())?))),
        },
        Type::List(list) => {
            let elem = list.ty();
            match value {
                Value::Array(items) => Val::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| to_val(v, &elem).map_err(|e| format!("item {i}: {e}")))
                        .collect::<Result<_, _>>()?,
                ),
                Value::Object(map) if is_key_value_tuple(&elem) => Val::List(
                    map.iter()
                        .map(|(k, v)| {
                            to_val(&Value::Array(vec![Value::String(k.clone()), v.clone()]), &elem)
                                .map_err(|e| format!("key {k:?}: {e}"))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    let what = if is_key_value_tuple(&elem) {
                        "an object or an array"
                    } else {
                        "an array"
                    };
                    return Err(expected(what, other));
                }
            }
        }
        Type::Tuple(tuple) => {
            let types: Vec<Type> = tuple.types().collect();
            match value {
                Value::Array(items) if items.len() == types.len() => Val::Tuple(
                    items
                        .iter()
                        .zip(&types)
                        .enumerate()
                        .map(|(i, (v, t))| to_val(v, t).map_err(|e| format!("item {i}: {e}")))
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    return Err(expected(&format!("an array of {} items", types.len()), other));
                }
            }
        }
        Type::Record(record) => {
            let Value::Object(map) = value else {
                let fields: Vec<String> = record.fields().map(|f| camel_case(f.name)).collect();
                return Err(expected(&format!("an object with fields {}", fields.join(", ")), value));
            };
            let mut known = Vec::new();
            let mut fields = Vec::new();
            for field in record.fields() {
                let camel = camel_case(field.name);
                let given = map.get(&camel).or_else(|| map.get(field.name));
                let val = match (given, &field.ty) {
                    (None, Type::Option(_)) => Val::Option(None),
                    (None, _) => return Err(format!("field {camel} is missing")),
                    (Some(v), ty) => to_val(v, ty).map_err(|e| format!("field {camel}: {e}"))?,
                };
                fields.push((field.name.to_string(), val));
                known.push(camel);
            }
            if let Some(unknown) = map
                .keys()
                .find(|k| !known.contains(k) && !known.contains(&camel_case(k)))
            {
                return Err(format!("unknown field {unknown:?}; expected {}", known.join(", ")));
            }
            Val::Record(fields)
        }
        Type::Enum(e) => {
            let name = value.as_str().ok_or_else(|| expected("a string", value))?;
            let case = e
                .names()
                .find(|n| same_name(n, name))
                .ok_or_else(|| format!("{name:?} is not one of {}", e.names().collect::<Vec<_>>().join(", ")))?;
            Val::Enum(case.to_string())
        }
        Type::Flags(flags) => {
            let items = value
                .as_array()
                .ok_or_else(|| expected("an array of flag names", value))?;
            let names: Vec<&str> = flags.names().collect();
            let mut set = Vec::new();
            for item in items {
                let s = item.as_str().ok_or_else(|| expected("a flag name", item))?;
                let name = names
                    .iter()
                    .find(|n| same_name(n, s))
                    .ok_or_else(|| format!("{s:?} is not one of {}", names.join(", ")))?;
                set.push((*name).to_string());
            }
            Val::Flags(set)
        }
        Type::Variant(variant) => {
            let cases: Vec<_> = variant.cases().map(|c| (c.name.to_string(), c.ty)).collect();
            let list = || cases.iter().map(|(n, _)| camel_case(n)).collect::<Vec<_>>().join(", ");
            let (name, payload) = match value {
                Value::String(s) => (s.as_str(), None),
                Value::Object(map) if map.len() == 1 => {
                    let (k, v) = map.iter().next().expect("one entry");
                    (k.as_str(), Some(v))
                }
                other => {
                    return Err(expected(
                        &format!("a case name or {{case: value}} with a case of {}", list()),
                        other,
                    ));
                }
            };
            let (case, ty) = cases
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name) || *n == kebab_case(name))
                .ok_or_else(|| format!("{name:?} is not one of {}", list()))?;
            let payload = match (ty, payload) {
                (None, None | Some(Value::Null)) => None,
                (Some(ty), Some(v)) => Some(Box::new(to_val(v, ty).map_err(|e| format!("case {name}: {e}"))?)),
                (Some(_), None) => {
                    return Err(format!("case {name} needs a value: {{\"{name}\": ...}}"));
                }
                (None, Some(_)) => return Err(format!("case {name} takes no value")),
            };
            Val::Variant(case.clone(), payload)
        }
        Type::Result(result) => {
            let Value::Object(map) = value else {
                return Err(expected("{\"ok\": ...} or {\"err\": ...}", value));
            };
            let convert = |v: Option<&Value>, ty: Option<Type>| -> Result<Option<Box<Val>>, String> {
                match (ty, v) {
                    (Some(ty), Some(v)) => Ok(Some(Box::new(to_val(v, &ty)?))),
                    _ => Ok(None),
                }
            };
            if map.contains_key("ok") {
                Val::Result(Ok(convert(map.get("ok"), result.ok())?))
            } else if map.contains_key("err") {
                Val::Result(Err(convert(map.get("err"), result.err())?))
            } else {
                return Err(expected("{\"ok\": ...} or {\"err\": ...}", value));
            }
        }
        other => {
            return Err(format!(
                "parameters of type {} cannot be given in a job",
                type_name(other)
            ));
        }
    })
}

/// Converts a component value to JSON: records become objects with camelCase keys,
/// variants `{"case": payload}` (or the case name alone), enums their name. Parts
/// nested deeper than [`MAX_DEPTH`] (which only a component's own types can cause)
/// become `null`.
pub fn to_json(val: &Val) -> Value {
    json_at(val, 1)
}

/// [`to_json`] for a part `depth` levels into the value.
fn json_at(val: &Val, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let to_json = |val: &Val| json_at(val, depth + 1);
    match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::S8(n) => (*n).into(),
        Val::U8(n) => (*n).into(),
        Val::S16(n) => (*n).into(),
        Val::U16(n) => (*n).into(),
        Val::S32(n) => (*n).into(),
        Val::U32(n) => (*n).into(),
        Val::S64(n) => (*n).into(),
        Val::U64(n) => (*n).into(),
        Val::Float32(n) => (*n).into(),
        Val::Float64(n) => (*n).into(),
        Val::Char(c) => Value::String(c.to_string()),
        Val::String(s) => Value::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        Val::Map(entries) => Value::Array(
            entries
                .iter()
                .map(|(k, v)| Value::Array(vec![to_json(k), to_json(v)]))
                .collect(),
        ),
        Val::Record(fields) => Value::Object(fields.iter().map(|(k, v)| (camel_case(k), to_json(v))).collect()),
        Val::Variant(case, payload) => match payload {
            None => Value::String(camel_case(case)),
            Some(p) => Value::Object(Map::from_iter([(camel_case(case), to_json(p))])),
        },
        Val::Enum(name) => Value::String(name.clone()),
        Val::Option(o) => o.as_deref().map_or(Value::Null, to_json),
        Val::Result(r) => match r {
            Ok(v) => Value::Object(Map::from_iter([(
                "ok".into(),
                v.as_deref().map_or(Value::Null, to_json),
            )])),
            Err(v) => Value::Object(Map::from_iter([(
                "err".into(),
                v.as_deref().map_or(Value::Null, to_json),
            )])),
        },
        Val::Flags(names) => Value::Array(names.iter().cloned().map(Value::String).collect()),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => Value::Null,
    }
}

/// A WIT-like name for a type, for messages and `adaptor-host list`; types nested
/// deeper than [`MAX_DEPTH`] are shown as `...`.
pub fn type_name(ty: &Type) -> String {
    name_at(ty, 1)
}

/// [`type_name`] for a type `depth` levels into another.
fn name_at(ty: &Type, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "...".into();
    }
    let type_name = |ty: &Type| name_at(ty, depth + 1);
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", type_name(&l.ty())),
        Type::Tuple(t) => format!(
            "tuple<{}>",
            t.types().map(|t| type_name(&t)).collect::<Vec<_>>().join(", ")
        ),
        Type::Option(o) => format!("option<{}>", type_name(&o.ty())),
        Type::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map_or("_".into(), |t| type_name(&t)),
            r.err().map_or("_".into(), |t| type_name(&t))
        ),
        Type::Record(r) => format!(
            "record {{ {} }}",
            r.fields()
                .map(|f| format!("{}: {}", camel_case(f.name), type_name(&f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases().map(|c| c.name.to_string()).collect::<Vec<_>>().join(", ")
        ),
        Type::Map(_) => "map".into(),
        Type::Own(_) | Type::Borrow(_) => "resource".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
        Type::FixedLengthList(_) => "fixed-length-list".into(),
    }
}

/// Whether a job's name for an enum case or flag means the WIT name `wit`: any letter
/// case, camelCase or snake_case (`"GET"`, `"parseAs"`, `"BIRTH_REGISTERED"`).
fn same_name(wit: &str, given: &str) -> bool {
    wit.eq_ignore_ascii_case(given)
        || wit.eq_ignore_ascii_case(&kebab_case(given))
        || wit.eq_ignore_ascii_case(&given.replace('_', "-"))
}

fn is_key_value_tuple(ty: &Type) -> bool {
    match ty {
        Type::Tuple(t) => {
            let types: Vec<Type> = t.types().collect();
            types.len() == 2 && matches!(types[0], Type::String)
        }
        _ => false,
    }
}

fn int<T: TryFrom<i64> + TryFrom<u64>>(value: &Value, name: &str) -> Result<T, String> {
    let wanted = || expected(&format!("an integer that fits {name}"), value);
    if let Some(n) = value.as_u64() {
        T::try_from(n).map_err(|_| wanted())
    } else if let Some(n) = value.as_i64() {
        T::try_from(n).map_err(|_| wanted())
    } else {
        Err(wanted())
    }
}

fn expected(what: &str, got: &Value) -> String {
    format!("expected {what}, got {}", json_kind(got))
}

#[cfg(test)]
pub(crate) mod arbitrary {
    //! Arbitrary JSON for property tests, biased towards what jobs hold: references,
    //! operation and field names, case names.

    use proptest::prelude::*;
    use serde_json::Value;

    /// Strings a job might hold, and any string.
    pub fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\$[.\\[\\]*?@()'a-z0-9=<>!&|, -]{0,16}",
            prop::sample::select(vec![
                "$",
                "$.data",
                "$.data[*]",
                "$..*",
                "GET",
                "post",
                "query",
                "size",
                "timeout",
                "ok",
                "err",
                "now",
            ])
            .prop_map(String::from),
            any::<String>(),
        ]
    }

    /// Any JSON value up to 6 levels deep.
    pub fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }
}

/// A JSON value's kind in words, with its article ("a string", "null"), for errors.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;
    use crate::engine::{Host, HostOptions};

    /// Every parameter type of the built-in adaptors' operations: records, options,
    /// enums, lists of tuples, variants, as real components declare them.
    fn types() -> &'static [Type] {
        static TYPES: OnceLock<Vec<Type>> = OnceLock::new();
        TYPES.get_or_init(|| {
            let host = Host::new(HostOptions::default()).expect("host");
            let mut types = Vec::new();
            for name in crate::builtin_adaptors() {
                let adaptor = host.load_builtin(name).expect("built-in adaptor loads");
                for operation in adaptor.operations() {
                    types.extend(operation.params.iter().map(|p| p.ty.clone()));
                }
            }
            types
        })
    }

    proptest! {
        #[test]
        fn to_val_never_panics_and_its_values_convert_back(value in arbitrary::json(), index in any::<prop::sample::Index>()) {
            let ty = index.get(types());
            if let Ok(val) = to_val(&value, ty) {
                let _ = to_json(&val);
            }
        }
    }

    #[test]
    fn to_val_refuses_values_deeper_than_the_limit() {
        let mut deep = Value::from("x");
        for _ in 0..MAX_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        let problem = to_val(&deep, &Type::String).unwrap_err();
        assert!(problem.contains("nesting depth limit of 200"), "{problem}");
        assert!(to_val(&Value::Array(vec![Value::from(1)]), &Type::String).is_ok());
    }
}
