//! Each test compiles a job and compares the result with the expected module after both
//! are re-printed by oxc's code generator (so layout and comments do not matter).

use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions, CommentOptions};
use oxc_parser::{ParseOptions, Parser};
use oxc_span::SourceType;
use proptest::prelude::*;

use crate::{CompileError, Compiled, LazyStateProblem, MAX_NESTING, OperationInfo, Options, compile};

const OPENLMIS: &str = "@openfn/language-openlmis";
const EXPORTS: &[&str] = &["get", "post", "each", "fn", "fnIf", "http", "dataValue", "execute"];

fn normalise(code: &str) -> String {
    let allocator = Allocator::default();
    let options = ParseOptions {
        preserve_parens: false,
        ..ParseOptions::default()
    };
    let parsed = Parser::new(&allocator, code, SourceType::mjs())
        .with_options(options)
        .parse();
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

// ---- lazy-state ----

#[test]
fn lazy_member_chain_argument_is_wrapped() {
    assert_bare("get($.data.url);", "export default [get(state => state.data.url)];");
}

#[test]
fn lazy_whole_argument_is_wrapped() {
    assert_bare(
        "post('x', { id: $.data.id, tags: [$.a, 1] }); post(`${$.base}/x`); post($.n * 2 + 1); post([$.a]);",
        "export default [post('x', state => ({ id: state.data.id, tags: [state.a, 1] })),
         post(state => `${state.base}/x`), post(state => state.n * 2 + 1), post(state => [state.a])];",
    );
}

#[test]
fn lazy_each_call_level_wraps_its_own_argument() {
    assert_bare(
        "each($.items, post('x', $.data));",
        "export default [each(state => state.items, post('x', state => state.data))];",
    );
}

#[test]
fn lazy_inside_open_state_function_is_only_renamed() {
    assert_bare("fn(state => $.x);", "export default [fn(state => state.x)];");
    assert_bare(
        "fn((state) => ({ a: $.a, b: $.b }));",
        "export default [fn(state => ({ a: state.a, b: state.b }))];",
    );
}

#[test]
fn lazy_nested_call_inside_open_function_wraps_its_argument() {
    assert_bare(
        "fn(state => foo($.x));",
        "export default [fn(state => foo(state => state.x))];",
    );
}

#[test]
fn lazy_two_dollars_in_one_argument_wrap_once() {
    assert_bare(
        "post({ a: $.a, b: $.b[$.i] });",
        "export default [post(state => ({ a: state.a, b: state.b[state.i] }))];",
    );
}

#[test]
fn lazy_computed_and_optional_chains() {
    assert_bare(
        "get($[0].x, $?.a?.b);",
        "export default [get(state => state[0].x, state => state?.a?.b)];",
    );
}

#[test]
fn lazy_sequence_argument_keeps_its_parentheses() {
    // (The extra parentheses around the arrow are harmless and kept by the printer.)
    assert_bare("get(($.a, 1));", "export default [get((state => (state.a, 1)))];");
}

#[test]
fn lazy_method_call_on_chain_wraps_the_whole_call_not_the_callee() {
    // Deviation: OpenFn gives `(state => state.items.map)(f)`, which does not work.
    assert_bare(
        "post('x', $.items.map(f));",
        "export default [post('x', state => state.items.map(f))];",
    );
    assert_bare(
        "post('x', $.map(f));",
        "export default [post('x', state => state.map(f))];",
    );
    assert_bare(
        "fn(state => $.items.filter(a).map(b));",
        "export default [fn(state => state.items.filter(a).map(b))];",
    );
}

#[test]
fn lazy_dollar_declared_by_a_parameter_is_left_alone() {
    assert_bare("fn($ => $.a);", "export default [fn($ => $.a)];");
    assert_bare(
        "function pick($) { return $.a; }\nfn(state => pick(state));",
        "function pick($) { return $.a; }\nexport default [fn(state => pick(state))];",
    );
}

#[test]
fn lazy_top_level_const_dollar_is_still_rewritten() {
    assert_bare(
        "const $ = { a: 1 };\nget($.a);",
        "const $ = { a: 1 };\nexport default [get(state => state.a)];",
    );
}

#[test]
fn lazy_bare_dollar_is_not_rewritten() {
    assert_bare("fn($);", "export default [fn($)];");
}

#[test]
fn lazy_jsonpath_strings_stay_strings() {
    assert_bare(
        "each('$.data[*]', get('$.x'));",
        "export default [each('$.data[*]', get('$.x'))];",
    );
}

#[test]
fn lazy_outside_operation_at_top_level() {
    assert_eq!(
        lazy_error("get('x');\n\nconst x = $.a;"),
        (LazyStateProblem::OutsideOperation, 3, 11)
    );
}

#[test]
fn lazy_outside_operation_in_block_body() {
    assert_eq!(
        lazy_error("fn(state => {\n  return $.a;\n});"),
        (LazyStateProblem::OutsideOperation, 2, 10)
    );
}

#[test]
fn lazy_parameter_must_be_called_state() {
    assert_eq!(
        lazy_error("fn(s => $.x);"),
        (LazyStateProblem::ParameterName("s".into()), 1, 4)
    );
    let error = compile("fn(s => $.x);", &Options::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "LazyStateError: parameter \"s\" should be called \"state\" (1:4)"
    );
}

#[test]
fn lazy_wrong_arity() {
    assert_eq!(lazy_error("fn(() => $.x);"), (LazyStateProblem::WrongArity, 1, 4));
    assert_eq!(
        lazy_error("get('a');\nfn((a, b) => $.x);"),
        (LazyStateProblem::WrongArity, 2, 4)
    );
}

#[test]
fn lazy_spread_is_an_error() {
    assert_eq!(lazy_error("each(...$.items);"), (LazyStateProblem::Spread, 1, 6));
}

// ---- promises ----

#[test]
fn promise_then_is_deferred() {
    assert_bare(
        "get('a').then(f);",
        "import { defer as _defer } from \"@openfn/runtime\";\nexport default [_defer(get('a'), p => p.then(f))];",
    );
}

#[test]
fn promise_catch_directly_on_operation() {
    assert_bare(
        "get('a').catch((e, state) => state);",
        "import { defer as _defer } from \"@openfn/runtime\";\nexport default [_defer(get('a'), undefined, (e, state) => state)];",
    );
}

#[test]
fn promise_then_then_catch_chain() {
    assert_bare(
        "get('a').then(f).then(g).catch(h);",
        "import { defer as _defer } from \"@openfn/runtime\";\nexport default [_defer(get('a'), p => p.then(f).then(g).catch(h))];",
    );
}

#[test]
fn promise_catch_before_then_is_cut_out() {
    assert_bare(
        "get('a').catch(h).then(g);",
        "import { defer as _defer } from \"@openfn/runtime\";\nexport default [_defer(get('a'), p => p.then(g), h)];",
    );
}

#[test]
fn promise_on_member_operation() {
    let compiled = with_adaptor("http.get('x').then(f);");
    assert_eq!(
        normalise(&compiled.code),
        normalise(
            "import { http } from \"@openfn/language-openlmis\";\nexport * from \"@openfn/language-openlmis\";\n\
             import { defer as _defer } from \"@openfn/runtime\";\nexport default [_defer(http.get('x'), p => p.then(f))];"
        )
    );
    assert_eq!(
        compiled.operations,
        vec![OperationInfo {
            name: None,
            line: 1,
            order: 1
        }]
    );
}

#[test]
fn promise_inside_a_function_is_left_alone() {
    assert_bare(
        "fn(state => get('a').then(f));",
        "export default [fn(state => get('a').then(f))];",
    );
}

#[test]
fn promise_in_a_top_level_argument_is_deferred() {
    assert_bare(
        "each($.items, get('x').then(f));",
        "import { defer as _defer } from \"@openfn/runtime\";\n\
         export default [each(state => state.items, _defer(get('x'), p => p.then(f)))];",
    );
}

#[test]
fn promise_defer_import_goes_after_the_job_imports_once() {
    assert_bare(
        "import { x } from 'y';\nimport z from 'w';\nget().then(x);\npost().catch(z);",
        "import { x } from 'y';\nimport z from 'w';\nimport { defer as _defer } from \"@openfn/runtime\";\n\
         export default [_defer(get(), p => p.then(x)), _defer(post(), undefined, z)];",
    );
}

#[test]
fn promise_existing_runtime_import_is_not_repeated() {
    assert_bare(
        "import { defer as _defer } from '@openfn/runtime';\nget().then(f);",
        "import { defer as _defer } from '@openfn/runtime';\nexport default [_defer(get(), p => p.then(f))];",
    );
}

#[test]
fn promise_on_a_non_call_is_left_alone() {
    assert_bare(
        "const p1 = Promise.resolve(1);\np1.then(f);",
        "const p1 = Promise.resolve(1);\nexport default [p1.then(f)];",
    );
}

// ---- ensure-exports and top-level-operations ----

#[test]
fn empty_job_exports_an_empty_array() {
    assert_bare("", "export default [];");
    assert_bare("// nothing\n", "export default [];");
}

#[test]
fn module_code_stays_in_place() {
    assert_bare(
        "const a = 1;\nget(a);\nfunction helper(x) { return x; }\nif (a) { post(a); }\nlet b;\nb = 2;\nawait load();\nfn(helper);",
        "const a = 1;\nfunction helper(x) { return x; }\nif (a) { post(a); }\nlet b;\nb = 2;\nawait load();\n\
         export default [get(a), fn(helper)];",
    );
}

#[test]
fn operations_append_to_an_existing_default_array() {
    assert_bare(
        "get('a');\nexport default [fn(f)];",
        "export default [fn(f), get('a')];",
    );
}

#[test]
fn default_export_not_last_moves_nothing() {
    assert_bare(
        "export default [fn(f)];\nget('a');",
        "export default [fn(f)];\nget('a');",
    );
    assert_bare("get('a');\nexport default x;", "get('a');\nexport default x;");
}

#[test]
fn named_default_export_counts_as_default() {
    assert_bare(
        "const ops = [];\nexport { ops as default };",
        "const ops = [];\nexport { ops as default };",
    );
}

#[test]
fn console_log_is_module_code_not_an_operation() {
    // Deviation: OpenFn moves it into the array and the run crashes.
    let compiled = bare("console.log('x');\nget('a');\nJSON.stringify({});\nsetTimeout(f, 1);");
    assert_eq!(
        normalise(&compiled.code),
        normalise("console.log('x');\nJSON.stringify({});\nsetTimeout(f, 1);\nexport default [get('a')];")
    );
    assert_eq!(compiled.operations, vec![op("get", 2, 1)]);
}

#[test]
fn a_declared_console_is_an_operation() {
    assert_bare(
        "import { console } from 'x';\nconsole.log(1);",
        "import { console } from 'x';\nexport default [console.log(1)];",
    );
}

#[test]
fn operations_record_names_lines_and_order() {
    let compiled = bare("get('a');\n\nhttp.post('b');\nconst x = 1;\n  fn(f)\n;each(x, fn(g));");
    assert_eq!(
        compiled.operations,
        vec![
            op("get", 1, 1),
            OperationInfo {
                name: None,
                line: 3,
                order: 2
            },
            op("fn", 5, 3),
            op("each", 6, 4)
        ]
    );
}

#[test]
fn statements_without_semicolons_do_not_run_together() {
    // Removing `get(a)\n;` must not join `let b` and `[b] = [2]` into `let b[b] = [2]`.
    assert_bare(
        "let b\nget(a)\n;[b] = [2]",
        "let b;\n[b] = [2];\nexport default [get(a)];",
    );
}

#[test]
fn top_level_await_is_allowed() {
    assert_bare(
        "const x = await load();\nget(x);",
        "const x = await load();\nexport default [get(x)];",
    );
}

#[test]
fn hashbang_is_dropped() {
    assert_bare("#!/usr/bin/env node\nget('a');", "export default [get('a')];");
}

// ---- add-imports ----

#[test]
fn imports_only_used_exports_in_export_order() {
    let compiled = with_adaptor("fn(f);\nget('a');\nunknownThing();");
    assert_eq!(compiled.imports, ["get", "fn"]);
    assert!(compiled.code.starts_with(
        "import { get, fn } from \"@openfn/language-openlmis\";\nexport * from \"@openfn/language-openlmis\";\n"
    ));
}

#[test]
fn explicit_import_is_kept_and_not_reimported() {
    assert_compiles(
        "import { get } from '@openfn/language-openlmis';\nget('a');\npost('b', {});",
        "import { post } from \"@openfn/language-openlmis\";\nexport * from \"@openfn/language-openlmis\";\n\
         import { get } from '@openfn/language-openlmis';\nexport default [get('a'), post('b', {})];",
    );
}

#[test]
fn everything_imported_explicitly_adds_no_header() {
    let compiled = with_adaptor("import { get } from '@openfn/language-openlmis';\nget('a');");
    assert!(compiled.imports.is_empty());
    assert_eq!(
        normalise(&compiled.code),
        normalise("import { get } from '@openfn/language-openlmis';\nexport default [get('a')];")
    );
}

#[test]
fn no_adaptor_no_imports() {
    let compiled = bare("get('a');");
    assert!(compiled.imports.is_empty());
    assert!(!compiled.code.contains("import"));
}

#[test]
fn declared_and_property_names_are_not_imported() {
    let compiled = with_adaptor(
        "function fn(x) { return x; }\nconst post = 1;\nfn(state => ({ get: state.get, each: post }));\nhelper(get => get);",
    );
    assert!(compiled.imports.is_empty(), "{:?}", compiled.imports);
}

#[test]
fn shorthand_property_uses_the_name() {
    // Deviation: OpenFn's walk misses `{ get }`.
    assert_eq!(with_adaptor("fn(state => ({ get }));").imports, ["get", "fn"]);
}

#[test]
fn unknown_exports_import_every_dangling_non_global() {
    let compiled = compile(
        "fn(state => { console.log(JSON.stringify(state)); return parseDate(state, Math.PI, $); });\nget(undefined, NaN);",
        &Options { adaptor: Some("@openfn/language-http"), exports: &[] },
    )
    .unwrap();
    // Deviation: OpenFn's unanchored pattern would skip `parseDate` (it contains `Date`).
    assert_eq!(compiled.imports, ["fn", "parseDate", "$", "get"]);
}

// ---- syntax errors and nesting ----

#[test]
fn syntax_error_has_line_and_column() {
    match compile("get('x');\nfn(state => {);", &Options::default()) {
        Err(CompileError::Syntax { line, column, message }) => {
            assert_eq!((line, column), (2, 14), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn redeclaration_is_a_syntax_error() {
    match compile("let a = 1;\nlet a = 2;", &Options::default()) {
        Err(CompileError::Syntax { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hundred_thousand_nested_arrays_are_refused() {
    let job = format!("fn(state => {}1{});", "[".repeat(100_000), "]".repeat(100_000));
    match compile(&job, &Options::default()) {
        Err(error @ CompileError::TooDeep { limit, line, .. }) => {
            assert_eq!((limit, line), (MAX_NESTING, 1));
            assert!(error.to_string().contains(&MAX_NESTING.to_string()), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_operator_chains_are_refused() {
    for job in [
        format!("fn({}x);", "!".repeat(100_000)),
        format!("fn(state => 1{});", "+1".repeat(100_000)),
        format!("fn(state => state{});", ".a".repeat(100_000)),
        format!("fn(state => {}1);", "a = ".repeat(100_000)),
        format!("fn(state => `{}`);", "${`".repeat(50_000)),
    ] {
        assert!(
            matches!(compile(&job, &Options::default()), Err(CompileError::TooDeep { .. })),
            "{}",
            &job[..40]
        );
    }
}

#[test]
fn brackets_in_strings_comments_and_regexes_do_not_count() {
    let many = "(".repeat(10_000);
    let job = format!(
        "const s = '{many}';\nconst t = \"{many}\";\n// {many}\n/* {many} */\nconst r = /\\({{3}}[(]/;\nconst u = `{many}`;\nget(s);"
    );
    assert_eq!(bare(&job).operations.len(), 1);
}

#[test]
fn nesting_just_under_the_limit_compiles_on_a_small_stack() {
    // Just within the limit, the whole pipeline must fit in a 256 KiB stack (a quarter of
    // wasm32-wasip2's default); one level more is refused.
    let levels = MAX_NESTING as usize / 2 - 2; // fn( and => cost 3
    let jobs: [fn(usize) -> String; 6] = [
        |n| format!("fn(state => {}$.a{});", "[".repeat(n), "]".repeat(n)),
        |n| format!("fn(state => {}$.a{});", "(".repeat(n), ")".repeat(n)),
        |n| format!("fn(state => {}$.a{});", "f(".repeat(n), ")".repeat(n)),
        |n| format!("fn(state => {}1);", "!".repeat(2 * n)),
        |n| format!("fn(state => {}1);", "x => ".repeat(2 * n)),
        |n| format!("fn(state => 1{});", " + 1".repeat(2 * n)),
    ];
    for make in jobs {
        let job = make(levels);
        let compiled = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || compile(&job, &Options::default()))
            .unwrap()
            .join()
            .unwrap();
        assert!(compiled.is_ok(), "{compiled:?}");
        let deeper = make(levels + 1);
        assert!(
            matches!(compile(&deeper, &Options::default()), Err(CompileError::TooDeep { .. })),
            "{deeper}"
        );
    }
}

#[test]
fn long_flat_jobs_are_not_refused() {
    // Many statements, long argument lists and ASI-style lines are not nesting.
    let mut job = String::new();
    for i in 0..2_000 {
        job.push_str(&format!("const v{i} = state.a.b.c + {i} - 1\n"));
    }
    job.push_str(&format!(
        "get([{}]);\n",
        (0..5_000).map(|i| format!("-{i}")).collect::<Vec<_>>().join(", ")
    ));
    assert_eq!(bare(&job).operations.len(), 1);
}

// ---- never panics ----

const TOKENS: &[&str] = &[
    "$",
    ".",
    "a",
    "state",
    "=>",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    "\n",
    "get",
    "fn",
    ".then",
    ".catch",
    "'$.x'",
    "`",
    "${",
    "/",
    "/re/",
    "const",
    "=",
    "await",
    "export default",
    "import",
    "from",
    "'m'",
    "+",
    "!",
    "?",
    ":",
    "...",
    "function",
    "return",
    "1",
    "?.",
    "#!",
    "//",
    "/*",
    "*/",
    "\"",
    "'",
    "console.log",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn compile_never_panics_on_token_soup(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)) {
        let job = tokens.join(" ");
        if let Ok(compiled) = compile(&job, &Options { adaptor: Some(OPENLMIS), exports: EXPORTS }) {
            // What compiles must parse.
            let _ = normalise(&compiled.code);
        }
    }

    #[test]
    fn valid_jobs_never_hit_an_internal_error(
        ops in prop::collection::vec(prop::sample::select(&[
            "get('a')", "get($.a)", "post('x', { a: $.b })", "fn(state => $.x)", "get('a').then(f)",
            "get('a').catch(h)", "x = 1", "console.log(1)", "each($.items, post('y', $.data))",
            "http.get('u').then(f).catch(g)", "if (x) get('b')", "$.items.map(f)",
        ][..]), 0..8),
        semicolons in any::<bool>(),
    ) {
        let job = ops.join(if semicolons { ";\n" } else { "\n" });
        match compile(&job, &Options { adaptor: Some(OPENLMIS), exports: EXPORTS }) {
            Ok(compiled) => { let _ = normalise(&compiled.code); }
            Err(CompileError::LazyState { .. }) => {}
            Err(other) => prop_assert!(false, "{other}\n{job}"),
        }
    }
}
