//! Each test compiles a job and compares the result with the expected module after both
//! are re-printed by oxc's code generator (so layout and comments do not matter).

use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions, CommentOptions};
use oxc_parser::Parser;
use oxc_span::SourceType;
use proptest::prelude::*;

use crate::{CompileError, Compiled, LazyStateProblem, MAX_NESTING, OperationInfo, Options, compile};

const OPENLMIS: &str = "@openfn/language-openlmis";
const EXPORTS: &[&str] = &["get", "post", "each", "fn", "fnIf", "http", "dataValue", "execute"];

fn normalise(code: &str) -> String {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, code, SourceType::mjs()).parse();
    assert!(
        parsed.diagnostics.is_empty(),
        "does not parse: {:?}\n{code}",
        parsed.diagnostics
    );
    let options = CodegenOptions {
        comments: CommentOptions::disabled(),
        ..CodegenOptions::default()
    };
    Codegen::new().with_options(options).build(&parsed.program).code
}

fn with_adaptor(job: &str) -> Compiled {
    compile(
        job,
        &Options {
            adaptor: Some(OPENLMIS),
            exports: EXPORTS,
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{job}"))
}

fn bare(job: &str) -> Compiled {
    compile(job, &Options::default()).unwrap_or_else(|e| panic!("{e}\n{job}"))
}

#[track_caller]
fn assert_compiles(job: &str, expected: &str) {
    let compiled = with_adaptor(job);
    assert_eq!(
        normalise(&compiled.code),
        normalise(expected),
        "compiled:\n{}",
        compiled.code
    );
}

#[track_caller]
fn assert_bare(job: &str, expected: &str) {
    let compiled = bare(job);
    assert_eq!(
        normalise(&compiled.code),
        normalise(expected),
        "compiled:\n{}",
        compiled.code
    );
}

#[track_caller]
fn lazy_error(job: &str) -> (LazyStateProblem, u32, u32) {
    match compile(job, &Options::default()) {
        Err(CompileError::LazyState { problem, line, column }) => (problem, line, column),
        other => panic!("expected a lazy state error, got {other:?}"),
    }
}

fn op(name: &str, line: u32, order: u32) -> OperationInfo {
    OperationInfo {
        name: Some(name.to_string()),
        line,
        order,
    }
}

// ---- The worked examples of the reference, verbatim ----

#[test]
fn reference_example_one() {
    let job = "get('facilities', { query: { page: 0 } });\n\
               fn(state => { state.n = state.data.content.length; return state; });\n\
               each($.data.content, post('x', state => state.data));\n";
    let compiled = with_adaptor(job);
    let expected = r#"import { get, post, each, fn } from "@openfn/language-openlmis";
export * from "@openfn/language-openlmis";
export default [
  get('facilities', { query: { page: 0 } }),
  fn(state => { state.n = state.data.content.length; return state; }),
  each(state => state.data.content, post('x', state => state.data))
];"#;
    assert_eq!(normalise(&compiled.code), normalise(expected), "{}", compiled.code);
    assert_eq!(
        compiled.operations,
        vec![op("get", 1, 1), op("fn", 2, 2), op("each", 3, 3)]
    );
    assert_eq!(compiled.imports, ["get", "post", "each", "fn"]);
}

#[test]
fn reference_example_two() {
    let job = "// comment\nconst PAGE_SIZE = 2;\n\
        get(`programs`, { query: { page: 0, size: PAGE_SIZE } }).then(state => { state.count = state.data.length; return state; });\n\
        post('programs', { name: $.data[0].name, code: `${$.data[0].code}-copy`, active: true });\n";
    let compiled = with_adaptor(job);
    let expected = r#"import { get, post } from "@openfn/language-openlmis";
export * from "@openfn/language-openlmis";
import { defer as _defer } from "@openfn/runtime";
const PAGE_SIZE = 2;
export default [_defer(
  get(`programs`, { query: { page: 0, size: PAGE_SIZE } }),
  p => p.then(state => { state.count = state.data.length; return state; })
), post('programs', state => ({
  name: state.data[0].name, code: `${state.data[0].code}-copy`, active: true
}))];"#;
    assert_eq!(normalise(&compiled.code), normalise(expected), "{}", compiled.code);
    assert_eq!(compiled.operations, vec![op("get", 3, 1), op("post", 4, 2)]);
}

#[test]
fn reference_example_three_jsonpath_string_untouched() {
    let job = "each('$.data.items[*]', fn(state => { state.seen = (state.seen || 0) + state.data; return state; }));";
    assert_compiles(
        job,
        r#"import { each, fn } from "@openfn/language-openlmis";
           export * from "@openfn/language-openlmis";
           export default [each('$.data.items[*]', fn(state => { state.seen = (state.seen || 0) + state.data; return state; }))];"#,
    );
}
