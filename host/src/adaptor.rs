//! A loaded adaptor: its compiled component, the import check, and its operations,
//! discovered by reflection on the exported `operations` interface.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Type};

use crate::engine::Host;
use crate::error::{Error, Result};
use crate::names::camel_case;
use crate::sandbox::Sandbox;
use crate::values::type_name;

/// The interfaces an adaptor may import (any 0.2.x of WASI, any version of
/// `openfn:adaptor`): the `openfn:adaptor/base` world.
pub const ALLOWED_IMPORTS: [&str; 22] = [
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
    "openfn:adaptor/types",
    "openfn:adaptor/host",
];

/// One operation of an adaptor.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The name jobs use (camelCase), e.g. `getAll`.
    pub name: String,
    /// The WIT name (kebab-case), e.g. `get-all`.
    pub wit_name: String,
    /// The parameters after `state`, in order.
    pub params: Vec<Param>,
    pub(crate) index: ComponentExportIndex,
}

/// A parameter of an operation.
#[derive(Debug, Clone)]
pub struct Param {
    /// The WIT name.
    pub name: String,
    /// The WIT type.
    pub ty: Type,
}

impl Operation {
    /// The signature as jobs see it, e.g. `get(path: string, options: option<...>)`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}: {}", camel_case(&p.name), type_name(&p.ty)))
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }
}

/// A compiled, checked adaptor, ready to instantiate once per job.
pub struct Adaptor {
    name: String,
    interface: String,
    pub(crate) pre: InstancePre<Sandbox>,
    operations: Vec<Operation>,
}

impl Adaptor {
    pub(crate) fn new(host: &Host, name: &str, component: Component) -> Result<Adaptor> {
        let engine = &host.engine;
        let ty = component.component_type();
        for (import, _) in ty.imports(engine) {
            let unversioned = import.split('@').next().unwrap_or(import);
            if !ALLOWED_IMPORTS.contains(&unversioned) {
                return Err(Error::ForbiddenImport {
                    adaptor: name.to_string(),
                    import: import.to_string(),
                    allowed: ALLOWED_IMPORTS.join(", "),
                });
            }
        }
        let load_error = |reason: String| Error::Load {
            name: name.to_string(),
            reason,
        };
        let (interface, instance) = ty
            .exports(engine)
            .find_map(|(export, item)| match item.ty {
                ComponentItem::ComponentInstance(i) if export.split('@').next()?.ends_with("/operations") => {
                    Some((export.to_string(), i))
                }
                _ => None,
            })
            .ok_or_else(|| load_error("it exports no `operations` interface; is it an adaptor component?".into()))?;
        let (_, interface_index) = component
            .get_export(None, &interface)
            .ok_or_else(|| load_error(format!("export {interface} not found")))?;

        let mut operations = Vec::new();
        for (wit_name, item) in instance.exports(engine) {
            let ComponentItem::ComponentFunc(func) = item.ty else {
                continue;
            };
            let mut params = func.params();
            let shape_error = || {
                load_error(format!(
                    "operation {wit_name} must have the shape `func(state: json, ...) -> result<json, error>`"
                ))
            };
            match params.next() {
                Some(("state", Type::String)) => {}
                _ => return Err(shape_error()),
            }
            let mut results = func.results();
            match (results.next(), results.next()) {
                (Some(Type::Result(r)), None) if matches!(r.ok(), Some(Type::String)) && r.err().is_some() => {}
                _ => return Err(shape_error()),
            }
            let (_, index) = component
                .get_export(Some(&interface_index), wit_name)
                .ok_or_else(|| load_error(format!("operation {wit_name} not found")))?;
            operations.push(Operation {
                name: camel_case(wit_name),
                wit_name: wit_name.to_string(),
                params: params
                    .map(|(n, ty)| Param {
                        name: n.to_string(),
                        ty,
                    })
                    .collect(),
                index,
            });
        }
        operations.sort_by(|a, b| a.name.cmp(&b.name));

        let pre = host
            .linker
            .instantiate_pre(&component)
            .map_err(|e| load_error(format!("{e:#}")))?;
        Ok(Adaptor {
            name: name.to_string(),
            interface,
            pre,
            operations,
        })
    }

    /// The adaptor's name (built-in name or path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exported interface, e.g. `openfn:openlmis/operations@0.1.0`.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The operations, sorted by name.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation a job calls `name` (camelCase or the WIT kebab-case name).
    pub fn operation(&self, name: &str) -> Result<&Operation> {
        self.operations
            .iter()
            .find(|o| o.name == name || o.wit_name == name)
            .ok_or_else(|| Error::UnknownOperation {
                adaptor: self.name.clone(),
                operation: name.to_string(),
                available: self
                    .operations
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}
