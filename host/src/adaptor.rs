//! A loaded adaptor: its compiled component, the import check, its operations
//! (discovered by reflection on the exported `operations` interface), its
//! configuration declaration and its docs.

use std::sync::Arc;

use tokio::sync::OnceCell;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Type, Val};

use crate::declaration::{Declaration, Field, FieldKind};
use crate::docs::Docs;
use crate::engine::Host;
use crate::error::{Error, Result};
use crate::events::JobLog;
use crate::names::camel_case;
use crate::sandbox::Sandbox;
use crate::sandbox::limits::Limits;
use crate::sandbox::policy::Policy;
use crate::values::type_name;

/// The interface every adaptor exports besides its operations (any version).
const CONFIGURATION_INTERFACE: &str = "openfn:adaptor/configuration";

include!(concat!(env!("OUT_DIR"), "/allowed_imports.rs"));

/// One operation of an adaptor.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The name jobs use (camelCase), e.g. `getAll`.
    pub name: String,
    /// The WIT name (kebab-case), e.g. `get-all`.
    pub wit_name: String,
    /// The parameters, in order.
    pub params: Vec<Param>,
    pub(crate) index: ComponentExportIndex,
}

/// A parameter of an operation.
#[derive(Debug, Clone)]
pub struct Param {
    /// The WIT name.
    pub name: String,
    /// The WIT type as WIT writes it, e.g. `option<request-options>`.
    pub type_name: String,
    pub(crate) ty: Type,
}

impl Operation {
    /// The signature as jobs see it, e.g. `get(path: string, options: option<...>)`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}: {}", camel_case(&p.name), p.type_name))
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
    pub(crate) configure: ComponentExportIndex,
    schema: ComponentExportIndex,
    declaration: OnceCell<Declaration>,
    docs: Docs,
}

impl Adaptor {
    pub(crate) fn new(host: &Host, name: &str, component: Component, docs: Docs) -> Result<Adaptor> {
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
        let configuration = ty
            .exports(engine)
            .find_map(|(export, _)| (export.split('@').next()? == CONFIGURATION_INTERFACE).then(|| export.to_string()))
            .ok_or_else(|| {
                load_error(format!(
                    "it does not export {CONFIGURATION_INTERFACE}: it was built for an older contract; \
                     rebuild it against openfn:adaptor@0.2.0"
                ))
            })?;
        let (_, configuration_index) = component
            .get_export(None, &configuration)
            .ok_or_else(|| load_error(format!("export {configuration} not found")))?;
        let configuration_func = |func: &str| {
            component
                .get_export(Some(&configuration_index), func)
                .map(|(_, index)| index)
                .ok_or_else(|| load_error(format!("{configuration} has no `{func}` function")))
        };
        let configure = configuration_func("configure")?;
        let schema = configuration_func("schema")?;

        let mut operations = Vec::new();
        for (wit_name, item) in instance.exports(engine) {
            let ComponentItem::ComponentFunc(func) = item.ty else {
                continue;
            };
            let params = func.params();
            let shape_error = || {
                load_error(format!(
                    "operation {wit_name} must have the shape `func(...) -> result<output, error>` of openfn:adaptor@0.2.0"
                ))
            };
            let mut results = func.results();
            match (results.next(), results.next()) {
                (Some(Type::Result(r)), None) if matches!(r.ok(), Some(Type::Record(_))) && r.err().is_some() => {}
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
                        type_name: type_name(&ty),
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
            configure,
            schema,
            declaration: OnceCell::new(),
            docs,
        })
    }

    /// The adaptor's configuration declaration, asked of the component (its
    /// `schema` function, in an instance of its own) the first time and kept.
    pub async fn declaration(&self) -> Result<&Declaration> {
        self.declaration.get_or_try_init(|| self.ask_schema()).await
    }

    async fn ask_schema(&self) -> Result<Declaration> {
        let internal = |what: &str, e: wasmtime::Error| Error::Load {
            name: self.name.clone(),
            reason: format!("{what}: {e:#}"),
        };
        let engine = self.pre.component().engine();
        let mut store = Sandbox::store(
            engine,
            &Limits::default(),
            Arc::new(Policy::default()),
            JobLog::default(),
            None,
        );
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| internal("instantiating it to read its configuration schema", e))?;
        let func = instance
            .get_func(&mut store, self.schema)
            .ok_or_else(|| Error::Internal("schema vanished from the instance".into()))?;
        let mut results = [Val::Bool(false)];
        func.call_async(&mut store, &[], &mut results)
            .await
            .map_err(|e| internal("calling its configuration schema", e))?;
        let Val::List(items) = &results[0] else {
            return Err(Error::Internal(format!("schema returned {:?}", results[0])));
        };
        let fields = items
            .iter()
            .map(|item| field(item).ok_or_else(|| Error::Internal(format!("bad field {item:?}"))))
            .collect::<Result<_>>()?;
        Ok(Declaration { fields })
    }

    /// The docs the component carries (its `openfn:docs` section); empty if none.
    pub fn docs(&self) -> &Docs {
        &self.docs
    }

    /// The adaptor's name (built-in name or path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exported interface, e.g. `openfn:openlmis/operations@0.2.0`.
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

/// A WIT `field` record as the host's [`Field`].
fn field(val: &Val) -> Option<Field> {
    let Val::Record(entries) = val else { return None };
    let get = |name: &str| entries.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let text = |name: &str| match get(name) {
        Some(Val::String(s)) => Some(s.clone()),
        _ => None,
    };
    let flag = |name: &str| match get(name) {
        Some(Val::Bool(b)) => Some(*b),
        _ => None,
    };
    let kind = match get("kind") {
        Some(Val::Enum(kind)) => FieldKind::from_name(kind)?,
        _ => return None,
    };
    Some(Field {
        name: text("name")?,
        description: text("description")?,
        kind,
        required: flag("required")?,
        secret: flag("secret")?,
    })
}
