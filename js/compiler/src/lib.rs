//! A pure-Rust reimplementation of the job transform of `@openfn/compiler` 1.2.5: it turns
//! an OpenFn-style JavaScript job into an ES module whose default export is the array of
//! operations to run.
//!
//! ```
//! use openfn_compiler::{compile, Options};
//!
//! let job = "get('facilities');\neach($.data.content, post('x', state => state.data));";
//! let options = Options { adaptor: Some("@openfn/language-openlmis"), exports: &["each", "get", "post"] };
//! let compiled = compile(job, &options).unwrap();
//! assert!(compiled.code.starts_with("import { each, get, post } from \"@openfn/language-openlmis\";"));
//! assert!(compiled.code.contains("each(state => state.data.content, post('x', state => state.data))"));
//! assert_eq!(compiled.operations.len(), 2);
//! ```
//!
//! The transforms run in OpenFn's order, each on the text the previous one produced:
//!
//! 1. **lazy-state**: every member chain rooted at `$` (`$.data.url`, `$[0]`) becomes
//!    `state.…`, and the argument of the nearest enclosing call that holds it is wrapped in
//!    `state => …` (unless it already is an arrow function `state => …`). A statement or
//!    declaration reached before any call is an error, as is an arrow argument with another
//!    parameter name or count. A `$` declared by an enclosing function is left alone.
//! 2. **promises**: at the top scope (outside functions and blocks), a promise chain on an
//!    operation, `op(…).then(a).catch(b)`, becomes `_defer(op(…), p => p.then(a).catch(b))`,
//!    and `op(…).catch(h)` becomes `_defer(op(…), undefined, h)`, with
//!    `import { defer as _defer } from "@openfn/runtime";` after the job's own imports.
//! 3. **ensure-exports**: `export default [];` is appended unless the job has a default export.
//! 4. **top-level-operations**: if the last statement is `export default [ … ]`, every
//!    top-level expression statement that is a call moves, in order, to the end of that
//!    array; everything else stays where it is and runs once when the module loads.
//! 5. **add-imports**: the identifiers the job uses but never declares are imported from
//!    the adaptor when it exports them, followed by `export * from "<adaptor>";`.
//!
//! The code around the rewrites keeps the job's own text (comments inside kept statements
//! too), so the output differs from OpenFn's reprint only in layout.
//!
//! # Deviations from OpenFn, on purpose
//!
//! - A call on a `$` chain is part of the lazy value: `post('x', $.items.map(f))` becomes
//!   `post('x', state => state.items.map(f))`. OpenFn wraps only the callee,
//!   `(state => state.items.map)(f)`, which does not run.
//! - A top-level call of a JavaScript global such as `console.log('x')`, `JSON.parse(…)` or
//!   `setTimeout(…)` is not an operation: it stays in place and runs when the module loads.
//!   OpenFn moves it into the array, where its `undefined` result crashes the run.
//! - A top-level object literal in a declaration (`const o = { a: $.b }`) is transformed like
//!   any other code: OpenFn skips such literals, leaving `$` undefined there.
//! - `op(…).catch()` with no handler passes `undefined` as the handler; a chain on something
//!   that is not a call (`promise.then(f)`) is left alone (OpenFn's compiler throws).
//! - Dangling identifiers come from scope analysis: `{ get }`, `{ get: get }` and `a[get]`
//!   use `get` (OpenFn's walk misses them). Without an export list, the JS globals are
//!   matched exactly (OpenFn's pattern also skips any name that merely contains one, such
//!   as `parseDate`).
//! - An operation's name is the deferred operation's for `_defer(get(…), …)` (`get`, not
//!   `_defer`) and its line is the job's line (OpenFn reports -1 for deferred operations).
//! - `export { x as default }` counts as a default export (OpenFn would add a second one).
//! - A `$` spread into a call (`op(...$.items)`) is an error rather than a spread function.
//! - A leading `#!` line is blanked, since the imports are placed before it.
//! - Line and column numbers are 1-based (OpenFn's columns are 0-based).

mod depth;
mod edit;
mod error;
mod imports;
mod lazy_state;
mod operations;
mod promises;

#[cfg(test)]
mod tests;

use oxc_allocator::Allocator;
use oxc_ast::ast::Program;
use oxc_parser::{ParseOptions, Parser};
use oxc_semantic::{Scoping, SemanticBuilder};
use oxc_span::SourceType;

pub use error::{CompileError, LazyStateProblem};

/// How deep a job may nest (see [`CompileError::TooDeep`]), in units where an open bracket
/// (`(`, `[`, `{`, a template literal or its `${`) costs 2 and each operator chained in an
/// expression at one level (`a.b`, `x + y`, `!x`, `a = b`) costs 1: at most 128 bracket levels.
///
/// The parser and the visitors recurse for every level, about 1.5 KiB of stack per bracket
/// in a release build: the limit keeps the whole compile under 256 KiB of stack (a quarter of
/// `wasm32-wasip2`'s default 1 MiB), while hand-written jobs stay far below it.
pub const MAX_NESTING: u32 = 256;

/// What the compiler knows about the job's adaptor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// The adaptor's module specifier without a version, e.g. `"@openfn/language-openlmis"`.
    /// `None` adds no imports at all.
    pub adaptor: Option<&'a str>,
    /// The names the adaptor exports (including those it re-exports from language-common).
    /// Only these are imported. Empty means the list is unknown: then every dangling name
    /// that is not a JavaScript global is imported, as OpenFn does without type definitions.
    pub exports: &'a [&'a str],
}

/// A compiled job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// The ES module to run: imports, the job's module code, `export default [ … ]`.
    pub code: String,
    /// The operations moved into the default export, in order.
    pub operations: Vec<OperationInfo>,
    /// The names imported from the adaptor, in the order of the import statement.
    pub imports: Vec<String>,
}

/// One operation of the default export, for naming the failing operation in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationInfo {
    /// The called function's name (`get` for `get(…)`); `None` for `http.get(…)` and other
    /// callees that are not plain identifiers.
    pub name: Option<String>,
    /// 1-based line of the call in the job.
    pub line: u32,
    /// 1-based position in the default export (among the operations moved there).
    pub order: u32,
}

/// Compiles an OpenFn job (an ES module; top-level `await` allowed) as `@openfn/compiler`
/// 1.2.5 does, with the deviations listed in the [crate documentation](crate).
///
/// # Errors
///
/// [`CompileError::TooDeep`] for input nesting deeper than [`MAX_NESTING`] (checked before
/// parsing), [`CompileError::Syntax`] for invalid JavaScript, [`CompileError::LazyState`]
/// for a misplaced `$` reference.
pub fn compile(source: &str, options: &Options<'_>) -> Result<Compiled, CompileError> {
    let source = blank_hashbang(source);
    depth::check(&source, MAX_NESTING)?;

    // 1. lazy-state, on the job as written: its errors point into the job.
    let lazy = with_module(&source, true, |program, scoping| {
        lazy_state::edits(&source, program, scoping)
    })??;
    let text = edit::apply(&source, lazy);

    // 2. promises.
    let edits = with_module(&text, false, |program, _| promises::edits(&text, program))?;
    let text = edit::apply(&text, edits);

    // 3–5. ensure-exports, top-level-operations, add-imports (the dangling identifiers do
    // not change when statements move, so one analysis serves both).
    let (text, operations, dangling) = with_module(&text, false, |program, scoping| {
        let (text, operations) = operations::hoist(&text, program, scoping);
        (text, operations, imports::dangling(program, scoping))
    })?;
    let mut code = String::new();
    let mut imported = Vec::new();
    if let Some(adaptor) = options.adaptor {
        imported = imports::select(&dangling, options.exports);
        if !imported.is_empty() {
            code.push_str(&imports::header(adaptor, &imported));
        }
    }
    code.push_str(&text);
    Ok(Compiled {
        code,
        operations,
        imports: imported,
    })
}

/// Replaces a leading `#!…` line with spaces, keeping every offset and line number.
fn blank_hashbang(source: &str) -> std::borrow::Cow<'_, str> {
    if !source.starts_with("#!") {
        return source.into();
    }
    let end = source.find('\n').unwrap_or(source.len());
    format!("{}{}", " ".repeat(end), &source[end..]).into()
}

/// Parses `text` as a module, analyses its scopes and runs `f` on both. Parse errors are
/// the job's syntax errors when `original` (else a bug: [`CompileError::Internal`]).
fn with_module<T>(text: &str, original: bool, f: impl FnOnce(&Program<'_>, &Scoping) -> T) -> Result<T, CompileError> {
    let allocator = Allocator::default();
    let options = ParseOptions {
        preserve_parens: false,
        ..ParseOptions::default()
    };
    let parsed = Parser::new(&allocator, text, SourceType::mjs())
        .with_options(options)
        .parse();
    let mut diagnostics: Vec<_> = parsed.diagnostics.errors().cloned().collect();
    let semantic = if diagnostics.is_empty() && !parsed.panicked {
        let built = SemanticBuilder::new()
            .with_check_syntax_error(true)
            .build(&parsed.program);
        diagnostics.extend(built.diagnostics.errors().cloned());
        Some(built.semantic)
    } else {
        None
    };
    if let Some(first) = diagnostics.first() {
        // The primary label marks the offending token (a redeclaration, not the declaration).
        let label = first
            .labels
            .iter()
            .find(|l| l.primary())
            .or_else(|| first.labels.last());
        let offset = label.map_or(0, |l| l.offset());
        let (line, column) = error::line_col(text, offset);
        let message = first.message.to_string();
        return Err(if original {
            CompileError::Syntax { message, line, column }
        } else {
            CompileError::Internal {
                message: format!("rewritten job does not parse: {message} ({line}:{column})"),
            }
        });
    }
    let semantic = semantic.expect("built when there are no diagnostics");
    Ok(f(&parsed.program, semantic.scoping()))
}
