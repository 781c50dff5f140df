//! `promises`: at the top scope, `op(…).then(a).catch(b)` → `_defer(op(…), p => p.then(a).catch(b))`
//! and `op(…).catch(h)` → `_defer(op(…), undefined, h)`, importing `defer` from `@openfn/runtime`.

use oxc_ast::AstKind;
use oxc_ast::ast::{CallExpression, Expression, Program, Statement};
use oxc_ast_visit::{Visit, walk};
use oxc_span::{GetSpan, Span};

use crate::edit::Edit;

/// The import that [`edits`] adds when it rewrites a chain (unless the job already imports
/// from `@openfn/runtime`). No line break: the job's lines keep their numbers.
pub(crate) const DEFER_IMPORT: &str = "import { defer as _defer } from \"@openfn/runtime\"; ";

/// The edits for every top-scope promise chain on an operation, plus the import.
pub(crate) fn edits(src: &str, program: &Program<'_>) -> Vec<Edit> {
    let mut finder = Finder {
        src,
        nesting: 0,
        edits: Vec::new(),
    };
    finder.visit_program(program);
    let mut edits = finder.edits;
    if edits.is_empty() {
        return edits;
    }
    let imports_runtime = program.body.iter().any(|statement| {
        matches!(statement, Statement::ImportDeclaration(import) if import.source.value == "@openfn/runtime")
    });
    if !imports_runtime {
        // After the job's leading imports, like OpenFn.
        let at = program
            .body
            .iter()
            .find(|statement| !matches!(statement, Statement::ImportDeclaration(_)))
            .map_or(src.len() as u32, |statement| statement.span().start);
        edits.push(Edit::insert(at, 0, DEFER_IMPORT));
    }
    edits
}

struct Finder<'s> {
    src: &'s str,
    /// How many functions and blocks enclose the current node: chains are rewritten at 0 only.
    nesting: u32,
    edits: Vec<Edit>,
}

impl<'a> Visit<'a> for Finder<'_> {
    fn enter_node(&mut self, kind: AstKind<'a>) {
        if opens_scope(kind) {
            self.nesting += 1;
        }
    }

    fn leave_node(&mut self, kind: AstKind<'a>) {
        if opens_scope(kind) {
            self.nesting -= 1;
        }
    }

    fn visit_call_expression(&mut self, call: &CallExpression<'a>) {
        if self.nesting == 0
            && promise_method(call).is_some()
            && let Some(edit) = rebuild(self.src, call)
        {
            // The chain is rewritten as a whole; nothing inside it is visited again.
            self.edits.push(edit);
            return;
        }
        walk::walk_call_expression(self, call);
    }
}

/// Functions and blocks end OpenFn's "top scope" (`isTopScope`); `if`/loops without a
/// block, and call arguments, do not.
fn opens_scope(kind: AstKind<'_>) -> bool {
    matches!(
        kind,
        AstKind::Function(_)
            | AstKind::ArrowFunctionExpression(_)
            | AstKind::BlockStatement(_)
            | AstKind::StaticBlock(_)
    )
}

/// `Some("then" | "catch")` if `call` is `x.then(…)` or `x.catch(…)`.
fn promise_method<'c>(call: &'c CallExpression<'_>) -> Option<&'c str> {
    match &call.callee {
        Expression::StaticMemberExpression(member) => {
            let name = member.property.name.as_str();
            (name == "then" || name == "catch").then_some(name)
        }
        _ => None,
    }
}

/// The object of `call`'s `.then`/`.catch` callee, if that is itself a call.
fn promise_receiver<'c, 'a>(call: &'c CallExpression<'a>) -> Option<&'c CallExpression<'a>> {
    match &call.callee {
        Expression::StaticMemberExpression(member) => match &member.object {
            Expression::CallExpression(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

/// Rewrites the chain `chain` into a `_defer(…)` call. The operation is the innermost call
/// of the chain whose callee is not `.then`/`.catch`; without one (`promise.then(f)`), the
/// chain is left alone.
fn rebuild(src: &str, chain: &CallExpression<'_>) -> Option<Edit> {
    let text = |span: Span| &src[span.start as usize..span.end as usize];
    // `above` is the `.then`/`.catch` call made directly on `op`.
    let mut above = chain;
    let mut op = promise_receiver(chain)?;
    while promise_method(op).is_some() {
        above = op;
        op = promise_receiver(op)?;
    }
    let op_text = text(op.span);
    let replacement = if promise_method(above) == Some("catch") {
        let handler = above.arguments.first().map_or("undefined", |h| text(h.span()));
        if std::ptr::eq(above, chain) {
            format!("_defer({op_text}, undefined, {handler})")
        } else {
            let rest = text(Span::new(above.span.end, chain.span.end));
            format!("_defer({op_text}, p => p{rest}, {handler})")
        }
    } else {
        let rest = text(Span::new(op.span.end, chain.span.end));
        format!("_defer({op_text}, p => p{rest})")
    };
    Some(Edit::replace(chain.span.start, chain.span.end, replacement))
}
