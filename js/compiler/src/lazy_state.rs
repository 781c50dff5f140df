//! `lazy-state`: `$.a.b` → `state.a.b`, with the argument of the nearest enclosing call
//! that holds it wrapped in `state => …`.

use oxc_ast::AstKind;
use oxc_ast::ast::{Argument, BindingPattern, CallExpression, Expression, IdentifierReference, Program};
use oxc_ast_visit::Visit;
use oxc_semantic::Scoping;
use oxc_span::{GetSpan, Span};

use crate::edit::Edit;
use crate::error::{CompileError, LazyStateProblem, line_col};

/// Collects the edits for every `$` chain in `program`, or the first misplaced one.
pub(crate) fn edits(src: &str, program: &Program<'_>, scoping: &Scoping) -> Result<Vec<Edit>, CompileError> {
    let mut finder = Finder {
        src,
        scoping,
        stack: Vec::new(),
        renames: Vec::new(),
        wraps: Vec::new(),
        error: None,
    };
    finder.visit_program(program);
    if let Some(error) = finder.error {
        return Err(error);
    }
    let mut edits: Vec<Edit> = finder
        .renames
        .iter()
        .map(|&at| Edit::replace(at, at + 1, "state"))
        .collect();
    finder.wraps.sort_by_key(|w| (w.span.start, w.span.end));
    finder.wraps.dedup_by_key(|w| w.span);
    for wrap in finder.wraps {
        let (open, close) = if wrap.parens {
            ("state => (", ")")
        } else {
            ("state => ", "")
        };
        edits.push(Edit::insert(wrap.span.start, 1, open));
        if !close.is_empty() {
            edits.push(Edit::insert(wrap.span.end, 0, close));
        }
    }
    Ok(edits)
}

struct Wrap {
    span: Span,
    /// The argument must be parenthesised as an arrow body (an object literal, a sequence).
    parens: bool,
}

struct Finder<'a, 's> {
    src: &'s str,
    scoping: &'s Scoping,
    /// Ancestors of the node being visited, outermost first.
    stack: Vec<AstKind<'a>>,
    /// Offsets of `$`s to rename to `state`.
    renames: Vec<u32>,
    /// Call arguments to wrap in `state => …`.
    wraps: Vec<Wrap>,
    error: Option<CompileError>,
}

impl<'a> Visit<'a> for Finder<'a, '_> {
    fn enter_node(&mut self, kind: AstKind<'a>) {
        self.stack.push(kind);
    }

    fn leave_node(&mut self, _kind: AstKind<'a>) {
        self.stack.pop();
    }

    fn visit_identifier_reference(&mut self, ident: &IdentifierReference<'a>) {
        if ident.name != "$" || self.error.is_some() || self.declared_in_function(ident) {
            return;
        }
        // Only a `$` that roots a member chain (`$.a`, `$[0]`) is lazy state.
        let Some(parent) = self.stack.last() else { return };
        if member_object(*parent) != Some(ident.span) {
            return;
        }
        match self.locate(ident.span) {
            Ok(wrap) => {
                self.renames.push(ident.span.start);
                if let Some(wrap) = wrap {
                    self.wraps.push(wrap);
                }
            }
            Err(error) => self.error = Some(error),
        }
    }
}

impl<'a> Finder<'a, '_> {
    /// A `$` bound anywhere but the module scope (a parameter, a local) is left alone;
    /// a module-level `const $` is not (OpenFn's rule).
    fn declared_in_function(&self, ident: &IdentifierReference<'a>) -> bool {
        let Some(reference) = ident.reference_id.get() else {
            return false;
        };
        let Some(symbol) = self.scoping.get_reference(reference).symbol_id() else {
            return false;
        };
        self.scoping.symbol_scope_id(symbol) != self.scoping.root_scope_id()
    }

    /// Walks up from the `$` to the nearest call that holds it as (part of) an argument,
    /// and returns that argument if it needs wrapping.
    fn locate(&self, dollar: Span) -> Result<Option<Wrap>, CompileError> {
        let mut child = dollar;
        for &kind in self.stack.iter().rev() {
            if let AstKind::CallExpression(call) = kind {
                // `$.items.map(f)`: a call on the chain is part of the value; keep going up.
                if call.callee.span() == child {
                    child = call.span;
                    continue;
                }
                return self.wrap_argument(call, child);
            }
            if stops_lazy_state(kind) {
                return Err(self.problem(LazyStateProblem::OutsideOperation, dollar.start));
            }
            child = kind.span();
        }
        Err(self.problem(LazyStateProblem::OutsideOperation, dollar.start))
    }

    fn wrap_argument(&self, call: &CallExpression<'a>, child: Span) -> Result<Option<Wrap>, CompileError> {
        let Some(argument) = call.arguments.iter().find(|a| a.span() == child) else {
            return Ok(None);
        };
        let expression = match argument {
            Argument::SpreadElement(spread) => {
                return Err(self.problem(LazyStateProblem::Spread, spread.span.start));
            }
            other => other.to_expression(),
        };
        if let Expression::ArrowFunctionExpression(arrow) = expression {
            let params = &arrow.params;
            if params.items.len() + usize::from(params.rest.is_some()) != 1 {
                return Err(self.problem(LazyStateProblem::WrongArity, arrow.span.start));
            }
            return match params.items.first().map(|p| &p.pattern) {
                Some(BindingPattern::BindingIdentifier(id)) if id.name == "state" => Ok(None),
                _ => {
                    let span = params.items.first().map_or_else(|| params.span, |p| p.span);
                    let name = self.src[span.start as usize..span.end as usize].trim_start_matches('(');
                    let name = name.trim_end_matches(')').trim().to_string();
                    Err(self.problem(LazyStateProblem::ParameterName(name), arrow.span.start))
                }
            };
        }
        let text = &self.src[child.start as usize..child.end as usize];
        let parens = text.starts_with('{') || matches!(expression, Expression::SequenceExpression(_));
        Ok(Some(Wrap { span: child, parens }))
    }

    fn problem(&self, problem: LazyStateProblem, at: u32) -> CompileError {
        let (line, column) = line_col(self.src, at);
        CompileError::LazyState { problem, line, column }
    }
}

/// The span of `kind`'s object if `kind` is a member expression.
fn member_object(kind: AstKind<'_>) -> Option<Span> {
    match kind {
        AstKind::StaticMemberExpression(m) => Some(m.object.span()),
        AstKind::ComputedMemberExpression(m) => Some(m.object.span()),
        AstKind::PrivateFieldExpression(m) => Some(m.object.span()),
        _ => None,
    }
}

/// Statements and declarations: a `$` that reaches one before a call has no state to read.
fn stops_lazy_state(kind: AstKind<'_>) -> bool {
    match kind {
        AstKind::Function(f) => f.is_declaration(),
        AstKind::Class(c) => c.is_declaration(),
        AstKind::Program(_)
        | AstKind::FunctionBody(_)
        | AstKind::BlockStatement(_)
        | AstKind::VariableDeclaration(_)
        | AstKind::EmptyStatement(_)
        | AstKind::ExpressionStatement(_)
        | AstKind::IfStatement(_)
        | AstKind::DoWhileStatement(_)
        | AstKind::WhileStatement(_)
        | AstKind::ForStatement(_)
        | AstKind::ForInStatement(_)
        | AstKind::ForOfStatement(_)
        | AstKind::ContinueStatement(_)
        | AstKind::BreakStatement(_)
        | AstKind::ReturnStatement(_)
        | AstKind::WithStatement(_)
        | AstKind::SwitchStatement(_)
        | AstKind::LabeledStatement(_)
        | AstKind::ThrowStatement(_)
        | AstKind::TryStatement(_)
        | AstKind::DebuggerStatement(_)
        | AstKind::ClassBody(_)
        | AstKind::PropertyDefinition(_)
        | AstKind::MethodDefinition(_)
        | AstKind::AccessorProperty(_)
        | AstKind::StaticBlock(_)
        | AstKind::ImportDeclaration(_)
        | AstKind::ExportNamedDeclaration(_)
        | AstKind::ExportDefaultDeclaration(_)
        | AstKind::ExportAllDeclaration(_) => true,
        _ => false,
    }
}
