//! `ensure-exports` and `top-level-operations`: the job's top-level calls become the
//! `export default [ … ]` array of operations.

use oxc_ast::ast::{CallExpression, ExportDefaultDeclarationKind, Expression, ModuleExportName, Program, Statement};
use oxc_semantic::Scoping;
use oxc_span::GetSpan;

use crate::OperationInfo;
use crate::error::line_col;

/// Globals whose calls are never operations: a top-level `console.log('x')` stays in place
/// and runs once when the module loads (OpenFn would put its `undefined` result in the
/// operations array and crash). Only when the name is not declared in the job.
const NOT_OPERATIONS: &[&str] = &[
    "Array",
    "clearInterval",
    "clearTimeout",
    "console",
    "Date",
    "JSON",
    "Math",
    "Number",
    "Object",
    "parseFloat",
    "parseInt",
    "Promise",
    "queueMicrotask",
    "Reflect",
    "setInterval",
    "setTimeout",
    "String",
    "structuredClone",
];

/// Rebuilds the module text with its operations moved into `export default [ … ]`
/// (appended if the module has no default export), and lists them.
pub(crate) fn hoist(src: &str, program: &Program<'_>, scoping: &Scoping) -> (String, Vec<OperationInfo>) {
    let body = &program.body;
    let has_default = body.iter().any(exports_default);
    // Operations move only into an array that is the module's last statement.
    let target = if has_default {
        match body.last() {
            Some(Statement::ExportDefaultDeclaration(export)) => match &export.declaration {
                ExportDefaultDeclarationKind::ArrayExpression(array) => Some(array),
                _ => None,
            },
            _ => None,
        }
    } else {
        None
    };
    if has_default && target.is_none() {
        return (src.to_string(), Vec::new());
    }

    let text = |start: u32, end: u32| &src[start as usize..end as usize];
    let mut operations = Vec::new();
    let mut moved: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(src.len() + 32);
    let mut pos = 0;
    let last = body.len().saturating_sub(1);
    for (index, statement) in body.iter().enumerate() {
        let span = statement.span();
        out.push_str(text(pos, span.start));
        pos = span.end;
        if has_default && index == last {
            break;
        }
        if let Statement::ExpressionStatement(expression) = statement
            && let Expression::CallExpression(call) = &expression.expression
            && is_operation(call, scoping)
        {
            operations.push(OperationInfo {
                name: operation_name(call),
                line: line_col(src, call.span.start).0,
                order: u32::try_from(operations.len() + 1).unwrap_or(u32::MAX),
            });
            moved.push(text(call.span.start, call.span.end));
            continue;
        }
        let kept = text(span.start, span.end);
        out.push_str(kept);
        // Statements that were next to a moved one must not run together.
        if !kept.ends_with(';') && !kept.ends_with('}') {
            out.push(';');
        }
    }
    let mut elements: Vec<&str> = Vec::new();
    if let Some(array) = target {
        elements.extend(array.elements.iter().map(|element| {
            if element.is_elision() {
                ""
            } else {
                text(element.span().start, element.span().end)
            }
        }));
    }
    if target.is_some() && moved.is_empty() {
        // Keep the user's array exactly as written.
        out.push_str(text(body[last].span().start, body[last].span().end));
        out.push_str(text(body[last].span().end, src.len() as u32));
        return (out, operations);
    }
    elements.extend(moved);
    let array = format!("export default [{}];", elements.join(",\n"));
    if target.is_some() {
        out.push_str(&array);
        out.push_str(text(pos, src.len() as u32));
    } else {
        out.push_str(text(pos, src.len() as u32));
        out.push('\n');
        out.push_str(&array);
        out.push('\n');
    }
    (out, operations)
}

/// `export default …` or `export { x as default }`.
fn exports_default(statement: &Statement<'_>) -> bool {
    match statement {
        Statement::ExportDefaultDeclaration(_) => true,
        Statement::ExportNamedDeclaration(named) => named.specifiers.iter().any(|s| match &s.exported {
            ModuleExportName::IdentifierName(name) => name.name == "default",
            ModuleExportName::IdentifierReference(name) => name.name == "default",
            ModuleExportName::StringLiteral(name) => name.value == "default",
        }),
        _ => false,
    }
}

/// A top-level call is an operation unless it calls one of [`NOT_OPERATIONS`].
fn is_operation(call: &CallExpression<'_>, scoping: &Scoping) -> bool {
    let mut callee = &call.callee;
    loop {
        callee = match callee {
            Expression::StaticMemberExpression(m) => &m.object,
            Expression::ComputedMemberExpression(m) => &m.object,
            Expression::CallExpression(c) => &c.callee,
            Expression::Identifier(ident) => {
                let global = ident
                    .reference_id
                    .get()
                    .is_none_or(|r| scoping.get_reference(r).symbol_id().is_none());
                return !(global && NOT_OPERATIONS.contains(&ident.name.as_str()));
            }
            _ => return true,
        };
    }
}

/// The callee's name for `get(…)`; for `_defer(get(…), …)` the deferred operation's;
/// `None` for `http.get(…)` and other non-identifier callees.
fn operation_name(call: &CallExpression<'_>) -> Option<String> {
    let Expression::Identifier(ident) = &call.callee else {
        return None;
    };
    if ident.name == "_defer"
        && let Some(Expression::CallExpression(inner)) = call.arguments.first().and_then(|a| a.as_expression())
    {
        return operation_name(inner);
    }
    Some(ident.name.to_string())
}
