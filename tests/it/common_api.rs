//! language-common's job API beyond the operations: lodash as `_`, `dateFns`,
//! `validate`, `beta.each` and the `util` helpers, in jobs written as OpenFn users
//! write them. Expected values come from the lodash 4, date-fns 2.30, ajv 8 and
//! language-common 3.3.4 documentation and sources, not from running this runtime.

use std::sync::{Arc, OnceLock};

use adaptor_host::workflow::{Configuration, Edge, Step, When, Workflow};
use adaptor_host::{Adaptor, Cancel, Expression, FinalState, Outcome, Plan, Reason, RunRequest, run_js_job};
use serde_json::{Value, json};

use crate::javascript::{err, ok};
use crate::util::{canary_configuration, canary_simulator, host, options};

/// The built-in language-common adaptor (no operations of its own), loaded once.
fn common() -> &'static Adaptor {
    static ADAPTOR: OnceLock<Adaptor> = OnceLock::new();
    ADAPTOR.get_or_init(|| host().load_builtin("common").expect("common loads"))
}

/// Runs JavaScript `job` with language-common alone, from `state`.
async fn run(job: &str, state: Value) -> Outcome {
    run_js_job(host(), common(), job, state, &options()).await
}

/// The people lodash's documentation uses for its collection examples.
fn users() -> Value {
    json!([
        {"user": "fred", "age": 48, "active": true},
        {"user": "barney", "age": 36, "active": false},
        {"user": "fred", "age": 40, "active": false},
        {"user": "barney", "age": 34, "active": true}
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lodash_collections_as_jobs_use_them() {
    let job = r#"
fn(state => {
  state.byName = _.groupBy(state.data, 'user');
  state.floors = _.groupBy([6.1, 4.2, 6.3], Math.floor);
  state.keyed = _.keyBy([{ dir: 'left', code: 97 }, { dir: 'right', code: 100 }], 'dir');
  state.sorted = _.sortBy(state.data, ['user', 'age']).map(u => `${u.user}${u.age}`);
  state.ordered = _.orderBy(state.data, ['user', 'age'], ['asc', 'desc']).map(u => `${u.user}${u.age}`);
  state.matches = _.filter(state.data, { age: 36, active: false }).map(u => u.user);
  state.matchesProperty = _.filter(state.data, ['active', false]).map(u => u.user);
  state.property = _.filter(state.data, 'active').map(u => u.user);
  state.found = _.find(state.data, o => o.age < 40);
  state.names = _.map(state.data, 'user');
  state.squares = _.map({ a: 4, b: 8 }, n => n * n);
  state.partition = _.partition(state.data, 'active').map(g => g.map(u => u.age));
  state.counts = _.countBy(['one', 'two', 'three'], 'length');
  state.reduced = _.reduce({ a: 1, b: 2, c: 1 }, (r, v, k) => { (r[v] || (r[v] = [])).push(k); return r; }, {});
  state.sums = [_.sum([4, 2, 8, 6]), _.sum([]), _.sumBy(state.data, 'age'), _.sumBy(state.data, u => u.age * 2)];
  state.extremes = [_.max([4, 2, 8, 6]), _.min([4, 2, 8, 6]), _.maxBy(state.data, 'age').age, _.mean([4, 2, 8, 6])];
  state.includes = [_.includes([1, 2, 3], 1), _.includes({ a: 1, b: 2 }, 1), _.includes('abcd', 'bc'), _.includes([1, 2, 3], 1, 2)];
  state.size = [_.size([1, 2, 3]), _.size({ a: 1, b: 2 }), _.size('pebbles')];
  state.some = [_.some(state.data, ['active', false]), _.every(state.data, { active: true })];
  return state;
});
"#;
    let outcome = run(job, json!({"data": users()})).await;
    let s = ok(&outcome);
    assert_eq!(
        s["byName"],
        json!({"fred": [users()[0], users()[2]], "barney": [users()[1], users()[3]]})
    );
    assert_eq!(s["floors"], json!({"4": [4.2], "6": [6.1, 6.3]}));
    assert_eq!(
        s["keyed"],
        json!({"left": {"dir": "left", "code": 97}, "right": {"dir": "right", "code": 100}})
    );
    assert_eq!(s["sorted"], json!(["barney34", "barney36", "fred40", "fred48"]));
    assert_eq!(s["ordered"], json!(["barney36", "barney34", "fred48", "fred40"]));
    assert_eq!(s["matches"], json!(["barney"]));
    assert_eq!(s["matchesProperty"], json!(["barney", "fred"]));
    assert_eq!(s["property"], json!(["fred", "barney"]));
    assert_eq!(s["found"], users()[1]);
    assert_eq!(s["names"], json!(["fred", "barney", "fred", "barney"]));
    assert_eq!(s["squares"], json!([16, 64]));
    assert_eq!(s["partition"], json!([[48, 34], [36, 40]]));
    assert_eq!(s["counts"], json!({"3": 2, "5": 1}));
    assert_eq!(s["reduced"], json!({"1": ["a", "c"], "2": ["b"]}));
    assert_eq!(s["sums"], json!([20, 0, 158, 316]));
    assert_eq!(s["extremes"], json!([8, 2, 48, 5]));
    assert_eq!(s["includes"], json!([true, true, true, false]));
    assert_eq!(s["size"], json!([3, 2, 7]));
    assert_eq!(s["some"], json!([true, false]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lodash_objects_and_arrays() {
    let job = r#"
fn(state => {
  const nested = { a: [{ b: { c: 3 } }] };
  state.get = [_.get(nested, 'a[0].b.c'), _.get(nested, ['a', '0', 'b', 'c']), _.get(nested, 'a.b.c', 'default'), _.get({ 'a.b': 5 }, 'a.b')];
  state.set = _.set({}, 'a[0].b.c', 4);
  state.has = [_.has({ a: { b: 2 } }, 'a.b'), _.has({ a: { b: 2 } }, 'a.c'), _.has(Object.create({ a: 1 }), 'a')];
  state.pick = [_.pick({ a: 1, b: '2', c: 3 }, ['a', 'c']), _.pick({ a: { b: 1, c: 2 }, d: 3 }, 'a.b')];
  state.omit = _.omit({ a: 1, b: '2', c: 3 }, ['a', 'c']);
  state.mapValues = _.mapValues({ fred: { age: 40 }, pebbles: { age: 1 } }, 'age');
  state.merge = _.merge({ a: [{ b: 2 }, { d: 4 }] }, { a: [{ c: 3 }, { e: 5 }] });
  state.mergeUndefined = _.merge({ a: 1 }, { a: undefined, b: null });
  const original = { a: [{ b: 1 }] };
  const copy = _.cloneDeep(original);
  copy.a[0].b = 2;
  state.cloneDeep = [original.a[0].b, copy.a[0].b];
  state.isEmpty = [_.isEmpty(null), _.isEmpty(true), _.isEmpty(1), _.isEmpty([1, 2, 3]), _.isEmpty({ a: 1 }), _.isEmpty(''), _.isEmpty({})];
  state.isEqual = [_.isEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), _.isEqual([1, 2], [2, 1]), _.isEqual(NaN, NaN), _.isEqual({ a: 1 }, { a: 1, b: undefined })];
  // As a callback: uniqWith's comparator, and filter's (value, index) ignored beyond two.
  state.isEqualCallback = [_.uniqWith([{ a: 1 }, { a: 1 }, { a: 2 }], _.isEqual), [[1], [1]].filter(_.isEqual)];
  state.keys = [_.keys({ a: 1, b: 2 }), _.values({ a: 1, b: 2 }), _.toPairs({ a: 1, b: 2 }), _.fromPairs([['a', 1], ['b', 2]])];
  state.chunk = [_.chunk(['a', 'b', 'c', 'd'], 2), _.chunk(['a', 'b', 'c', 'd'], 3), _.chunk([1, 2], 0)];
  state.uniq = [_.uniq([2, 1, 2]), _.uniqBy([2.1, 1.2, 2.3], Math.floor), _.uniqBy([{ x: 1 }, { x: 2 }, { x: 1 }], 'x')];
  state.flatten = [_.flatten([1, [2, [3, [4]], 5]]), _.flattenDeep([1, [2, [3, [4]], 5]])];
  state.sets = [_.difference([2, 1], [2, 3]), _.intersection([2, 1], [2, 3]), _.union([2], [1, 2]), _.xor([2, 1], [2, 3]), _.without([2, 1, 2, 3], 1, 2)];
  state.zip = [_.zip(['a', 'b'], [1, 2], [true, false]), _.zipObject(['a', 'b'], [1, 2])];
  state.ends = [_.first([1, 2, 3]), _.head([]) === undefined, _.last([1, 2, 3]), _.tail([1, 2, 3]), _.take([1, 2, 3], 2), _.nth(['a', 'b', 'c'], -2)];
  state.compact = _.compact([0, 1, false, 2, '', 3, null, NaN, undefined]);
  state.range = [_.range(4), _.range(-4), _.range(1, 5), _.range(0, 20, 5), _.range(0, -4, -1), _.range(1, 4, 0), _.range(0)];
  state.times = [_.times(3, String), _.times(4, () => 0)];
  return state;
});
"#;
    let outcome = run(job, json!({})).await;
    let s = ok(&outcome);
    assert_eq!(s["get"], json!([3, 3, "default", 5]));
    assert_eq!(s["set"], json!({"a": [{"b": {"c": 4}}]}));
    assert_eq!(s["has"], json!([true, false, false]));
    assert_eq!(s["pick"], json!([{"a": 1, "c": 3}, {"a": {"b": 1}}]));
    assert_eq!(s["omit"], json!({"b": "2"}));
    assert_eq!(s["mapValues"], json!({"fred": 40, "pebbles": 1}));
    assert_eq!(s["merge"], json!({"a": [{"b": 2, "c": 3}, {"d": 4, "e": 5}]}));
    assert_eq!(s["mergeUndefined"], json!({"a": 1, "b": null}));
    assert_eq!(s["cloneDeep"], json!([1, 2]));
    assert_eq!(s["isEmpty"], json!([true, true, true, false, false, true, true]));
    assert_eq!(s["isEqual"], json!([true, false, true, false]));
    assert_eq!(s["isEqualCallback"], json!([[{"a": 1}, {"a": 2}], []]));
    assert_eq!(
        s["keys"],
        json!([["a", "b"], [1, 2], [["a", 1], ["b", 2]], {"a": 1, "b": 2}])
    );
    assert_eq!(
        s["chunk"],
        json!([[["a", "b"], ["c", "d"]], [["a", "b", "c"], ["d"]], []])
    );
    assert_eq!(s["uniq"], json!([[2, 1], [2.1, 1.2], [{"x": 1}, {"x": 2}]]));
    assert_eq!(s["flatten"], json!([[1, 2, [3, [4]], 5], [1, 2, 3, 4, 5]]));
    assert_eq!(s["sets"], json!([[1], [2], [2, 1], [1, 3], [3]]));
    assert_eq!(s["zip"], json!([[["a", 1, true], ["b", 2, false]], {"a": 1, "b": 2}]));
    assert_eq!(s["ends"], json!([1, true, 3, [2, 3], [1, 2], "b"]));
    assert_eq!(s["compact"], json!([1, 2, 3]));
    assert_eq!(
        s["range"],
        json!([
            [0, 1, 2, 3],
            [0, -1, -2, -3],
            [1, 2, 3, 4],
            [0, 5, 10, 15],
            [0, -1, -2, -3],
            [1, 1, 1],
            []
        ])
    );
    assert_eq!(s["times"], json!([["0", "1", "2"], [0, 0, 0, 0]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lodash_strings_numbers_and_chains() {
    let job = r#"
fn(state => {
  state.camel = [_.camelCase('Foo Bar'), _.camelCase('--foo-bar--'), _.camelCase('__FOO_BAR__'), _.camelCase('XMLHttpRequest')];
  state.snake = [_.snakeCase('Foo Bar'), _.snakeCase('fooBar'), _.snakeCase('--FOO-BAR--'), _.snakeCase('déjà vu')];
  state.kebab = [_.kebabCase('Foo Bar'), _.kebabCase('fooBar'), _.kebabCase('__FOO_BAR__')];
  state.start = [_.startCase('--foo-bar--'), _.startCase('fooBar'), _.startCase('__FOO_BAR__')];
  state.capitalize = _.capitalize('FRED');
  state.trim = [_.trim('  abc  '), _.trim('-_-abc-_-', '_-'), _.trimStart('  abc  '), _.trimEnd('-_-abc-_-', '_-')];
  state.pad = [_.padStart('abc', 6, '_-'), _.padEnd('abc', 6, '_-'), _.pad('abc', 8, '_-')];
  state.truncate = [_.truncate('hi-diddly-ho there, neighborino'), _.truncate('hi-diddly-ho there, neighborino', { length: 24, separator: ' ' })];
  state.words = _.words('fred, barney, & pebbles');
  state.round = [_.round(4.006), _.round(4.006, 2), _.round(4060, -2), _.floor(0.046, 2), _.ceil(6.004, 2)];
  state.explicit = _.chain(state.data).filter('active').map('user').value();
  state.implicitUnwrapped = _([1, 2, 3]).map(n => n * 2).sum();
  state.implicitWrapped = _([3, 1, 2]).sortBy().value();
  state.head = _.chain([3, 1, 2]).sortBy().head().value();
  return state;
});
"#;
    let outcome = run(job, json!({"data": users()})).await;
    let s = ok(&outcome);
    assert_eq!(s["camel"], json!(["fooBar", "fooBar", "fooBar", "xmlHttpRequest"]));
    assert_eq!(s["snake"], json!(["foo_bar", "foo_bar", "foo_bar", "deja_vu"]));
    assert_eq!(s["kebab"], json!(["foo-bar", "foo-bar", "foo-bar"]));
    assert_eq!(s["start"], json!(["Foo Bar", "Foo Bar", "FOO BAR"]));
    assert_eq!(s["capitalize"], "Fred");
    assert_eq!(s["trim"], json!(["abc", "abc", "abc  ", "-_-abc"]));
    assert_eq!(s["pad"], json!(["_-_abc", "abc_-_", "_-abc_-_"]));
    assert_eq!(
        s["truncate"],
        json!(["hi-diddly-ho there, neighbo...", "hi-diddly-ho there,..."])
    );
    assert_eq!(s["words"], json!(["fred", "barney", "pebbles"]));
    assert_eq!(s["round"], json!([4, 4.01, 4100, 0.04, 6.01]));
    assert_eq!(s["explicit"], json!(["fred", "barney"]));
    assert_eq!(s["implicitUnwrapped"], 12);
    assert_eq!(s["implicitWrapped"], json!([1, 2, 3]));
    assert_eq!(s["head"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazily_loaded_parts_behave_as_plain_values() {
    // Module code that reads the parts before any operation runs, `in`, Object.keys,
    // destructuring, `_` called as a function, and an explicit import.
    let job = r#"
import { _ as lodash, dateFns as df } from '@openfn/language-common';
const { format } = dateFns;
const before = typeof _;
fn(state => {
  state.kinds = [before, typeof _, typeof dateFns, typeof validate];
  state.hasGroupBy = 'groupBy' in _;
  state.dateFnsKeys = Object.keys(dateFns).sort();
  state.sameLodash = lodash === _ && df === dateFns;
  state.wrapped = _([1, 2]).value();
  state.formatted = format(new Date(Date.UTC(2024, 0, 2)), 'yyyy-MM-dd');
  return state;
});
"#;
    let outcome = run(job, json!({})).await;
    let s = ok(&outcome);
    assert_eq!(s["kinds"], json!(["function", "function", "object", "function"]));
    assert_eq!(s["hasGroupBy"], true);
    assert_eq!(s["dateFnsKeys"], json!(["format", "parse"]));
    assert_eq!(s["sameLodash"], true);
    assert_eq!(s["wrapped"], json!([1, 2]));
    assert_eq!(s["formatted"], "2024-01-02");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_fns_format_tokens() {
    // 3 February 2026, 14:05:09.007 UTC, a Tuesday (the sandbox's clock is UTC).
    let job = r#"
fn(state => {
  const d = new Date(Date.UTC(2026, 1, 3, 14, 5, 9, 7));
  state.offset = d.getTimezoneOffset();
  state.f = [
    dateFns.format(d, 'yyyy-MM-dd'),
    dateFns.format(d, 'yy M MM d dd do'),
    dateFns.format(d, 'MMM MMMM EEE EEEE'),
    dateFns.format(d, 'HH H hh h mm m ss s SSS a aaa'),
    dateFns.format(d, "yyyy-MM-dd'T'HH:mm:ss.SSSX XXX xxx"),
    dateFns.format(d, "'It''s the' do 'of' MMMM, yyyy ''"),
    dateFns.format(d, 'PPpp'),
    dateFns.format(d, 'P'),
    dateFns.format(d, 'PPPP'),
    dateFns.format(d, 'HH:mm d MMM yyyy (OOO)'),
    dateFns.format(new Date(Date.UTC(2026, 0, 11, 0, 30)), 'do h:mm a'),
    dateFns.format(Date.UTC(2026, 0, 22, 12), 'do h a'),
  ];
  return state;
});
"#;
    let outcome = run(job, json!({})).await;
    let s = ok(&outcome);
    assert_eq!(s["offset"], 0);
    assert_eq!(
        s["f"],
        json!([
            "2026-02-03",
            "26 2 02 3 03 3rd",
            "Feb February Tue Tuesday",
            "14 14 02 2 05 5 09 9 007 PM pm",
            "2026-02-03T14:05:09.007Z Z +00:00",
            "It's the 3rd of February, 2026 '",
            "Feb 3, 2026, 2:05:09 PM",
            "02/03/2026",
            "Tuesday, February 3rd, 2026",
            "14:05 3 Feb 2026 (GMT+0)",
            "11th 12:30 AM",
            "22nd 12 PM"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_fns_parse_reads_what_the_format_says() {
    let job = r#"
fn(state => {
  const ref = new Date(Date.UTC(2020, 5, 15, 10, 11, 12, 13));
  const p = (text, format) => {
    const d = dateFns.parse(text, format, ref);
    return isNaN(d.getTime()) ? String(d) : d.toISOString();
  };
  state.p = [
    p('02/11/2014', 'MM/dd/yyyy'),
    p('2020', 'yyyy'),
    p('15', 'dd'),
    p('10:30', 'HH:mm'),
    p('5:04 PM', 'h:mm a'),
    p('12:00 am', 'hh:mm a'),
    p('99', 'yy'),
    p('30', 'yy'),
    p('March 3rd, 2021', 'MMMM do, yyyy'),
    p('Mar 3 2021', 'MMM d yyyy'),
    p('2020-01-01T10:00:00+02:00', "yyyy-MM-dd'T'HH:mm:ssXXX"),
    p('2020-01-01 ', 'yyyy-MM-dd'),
    p('31/02/2020', 'dd/MM/yyyy'),
    p('2020-13-01', 'yyyy-MM-dd'),
    p('2020-01-01x', 'yyyy-MM-dd'),
    p('abc', 'yyyy'),
    p('', ''),
  ];
  return state;
});
"#;
    let outcome = run(job, json!({})).await;
    let s = ok(&outcome);
    assert_eq!(
        s["p"],
        json!([
            "2014-02-11T00:00:00.000Z",
            "2020-01-01T00:00:00.000Z",
            "2020-06-15T00:00:00.000Z",
            "2020-06-15T10:30:00.000Z",
            "2020-06-15T17:04:00.000Z",
            "2020-06-15T00:00:00.000Z",
            "1999-01-01T00:00:00.000Z",
            "2030-01-01T00:00:00.000Z",
            "2021-03-03T00:00:00.000Z",
            "2021-03-03T00:00:00.000Z",
            "2020-01-01T08:00:00.000Z",
            "2020-01-01T00:00:00.000Z",
            "Invalid Date",
            "Invalid Date",
            "Invalid Date",
            "Invalid Date",
            "2020-06-15T10:11:12.013Z"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_fns_errors_are_adaptor_errors_with_date_fns_messages() {
    for (job, message) in [
        // date-fns 2 takes no strings: an Invalid Date, which format refuses.
        (
            "fn(s => ({ ...s, d: dateFns.format('2026-01-01', 'yyyy') }));",
            "Invalid time value",
        ),
        (
            "fn(s => ({ ...s, d: dateFns.format(new Date(0), 'YYYY-MM-DD') }));",
            "Use `yyyy` instead of `YYYY` (in `YYYY-MM-DD`)",
        ),
        (
            "fn(s => ({ ...s, d: dateFns.format(new Date(0), 'yyyy n') }));",
            "Format string contains an unescaped latin alphabet character `n`",
        ),
        (
            "fn(s => ({ ...s, d: dateFns.parse('2020') }));",
            "3 arguments required, but only 1 present",
        ),
    ] {
        let outcome = run(job, json!({})).await;
        let error = err(&outcome);
        assert_eq!(error["name"], "AdaptorError", "{job}: {error}");
        let text = error["message"].as_str().unwrap_or_default();
        assert!(text.starts_with(message), "{job}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_pushes_ajv_errors_to_validation_errors() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
        },
        "required": ["name", "age"],
        "additionalProperties": false
    });
    // validate() reads state.schema and state.data; in `each`, each item is `data`.
    let job = r#"
validate();
fn(state => ({ ...state, afterValid: state.validationErrors.length }));
fn(state => ({ ...state, records: [{ name: 'Al' }, { name: 'A', age: 3 }, { name: 'Al', age: 1.5 }, { name: 'Al', age: 1, x: 1 }, { name: 'Al', age: 1, tags: ['a', 'b', 'a'] }, 'str'] }));
each('$.records[*]', validate());
"#;
    let outcome = run(job, json!({"schema": schema, "data": {"name": "Ada", "age": 36}})).await;
    let s = ok(&outcome);
    assert_eq!(s["afterValid"], 0, "a valid record adds no entry, but the list exists");
    let entries = s["validationErrors"].as_array().expect("validationErrors");
    assert_eq!(entries.len(), 6);
    let first = |i: usize| &entries[i]["errors"][0];
    assert_eq!(entries[0]["data"], json!({"name": "Al"}));
    assert_eq!(
        entries[0]["errors"],
        json!([{"instancePath": "", "schemaPath": "#/required", "keyword": "required",
                "params": {"missingProperty": "age"}, "message": "must have required property 'age'"}])
    );
    assert_eq!(
        *first(1),
        json!({"instancePath": "/name", "schemaPath": "#/properties/name/minLength", "keyword": "minLength",
               "params": {"limit": 2}, "message": "must NOT have fewer than 2 characters"})
    );
    assert_eq!(
        *first(2),
        json!({"instancePath": "/age", "schemaPath": "#/properties/age/type", "keyword": "type",
               "params": {"type": "integer"}, "message": "must be integer"})
    );
    assert_eq!(
        *first(3),
        json!({"instancePath": "", "schemaPath": "#/additionalProperties", "keyword": "additionalProperties",
               "params": {"additionalProperty": "x"}, "message": "must NOT have additional properties"})
    );
    assert_eq!(first(4)["keyword"], "uniqueItems");
    assert_eq!(
        first(4)["message"],
        "must NOT have duplicate items (items ## 2 and 0 are identical)"
    );
    assert_eq!(first(5)["message"], "must be object");
    assert!(
        entries.iter().all(|e| e["errors"].as_array().map(Vec::len) == Some(1)),
        "ajv stops at the first error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_composite_keywords_refs_and_paths() {
    let job = r#"
validate({ anyOf: [{ type: 'string' }, { type: 'number' }] }, () => true);
validate({ $id: 'ref', type: 'object', properties: { a: { $ref: '#/definitions/pos' } }, definitions: { pos: { type: 'number', minimum: 0 } } }, { a: -1 });
validate({ $id: 'if', if: { properties: { a: { const: 1 } } }, then: { required: ['b'] } }, '$.data.doc');
validate({ $id: 'names', propertyNames: { pattern: '^[a-z]+$' } }, { abc: 1, B: 2 });
validate({ $id: 'deps', dependencies: { a: ['b', 'c'] } }, { a: 1, b: 1 });
validate({ $id: 'oneOf', oneOf: [{ type: 'number' }, { type: 'integer' }] }, 1);
"#;
    let outcome = run(job, json!({"data": {"doc": {"a": 1}}})).await;
    let s = ok(&outcome);
    let errors: Vec<&Value> = s["validationErrors"]
        .as_array()
        .expect("validationErrors")
        .iter()
        .map(|e| &e["errors"])
        .collect();
    assert_eq!(
        *errors[0],
        json!([
            {"instancePath": "", "schemaPath": "#/anyOf/0/type", "keyword": "type", "params": {"type": "string"}, "message": "must be string"},
            {"instancePath": "", "schemaPath": "#/anyOf/1/type", "keyword": "type", "params": {"type": "number"}, "message": "must be number"},
            {"instancePath": "", "schemaPath": "#/anyOf", "keyword": "anyOf", "params": {}, "message": "must match a schema in anyOf"}
        ])
    );
    assert_eq!(
        *errors[1],
        json!([{"instancePath": "/a", "schemaPath": "#/definitions/pos/minimum", "keyword": "minimum",
                "params": {"comparison": ">=", "limit": 0}, "message": "must be >= 0"}])
    );
    assert_eq!(
        *errors[2],
        json!([
            {"instancePath": "", "schemaPath": "#/then/required", "keyword": "required", "params": {"missingProperty": "b"}, "message": "must have required property 'b'"},
            {"instancePath": "", "schemaPath": "#/if", "keyword": "if", "params": {"failingKeyword": "then"}, "message": "must match \"then\" schema"}
        ])
    );
    assert_eq!(
        *errors[3],
        json!([
            {"instancePath": "", "schemaPath": "#/propertyNames/pattern", "keyword": "pattern", "params": {"pattern": "^[a-z]+$"}, "message": "must match pattern \"^[a-z]+$\"", "propertyName": "B"},
            {"instancePath": "", "schemaPath": "#/propertyNames", "keyword": "propertyNames", "params": {"propertyName": "B"}, "message": "property name must be valid"}
        ])
    );
    assert_eq!(
        *errors[4],
        json!([{"instancePath": "", "schemaPath": "#/dependencies", "keyword": "dependencies",
                "params": {"property": "a", "missingProperty": "c", "depsCount": 2, "deps": "b, c"},
                "message": "must have properties b, c when property a is present"}])
    );
    assert_eq!(
        *errors[5],
        json!([{"instancePath": "", "schemaPath": "#/oneOf", "keyword": "oneOf", "params": {"passingSchemas": [0, 1]},
                "message": "must match exactly one schema in oneOf"}])
    );
    // Every entry records state.data, not the value validated (as language-common does).
    assert!(
        s["validationErrors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["data"] == json!({"doc": {"a": 1}}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_caches_schemas_by_id_and_refuses_what_ajv_refuses() {
    // Two schemas without $id share language-common's cache entry 'schema': the second
    // call validates against the first schema.
    let job = r#"
validate({ type: 'string' }, 1);
validate({ type: 'number' }, 1);
"#;
    let outcome = run(job, json!({})).await;
    let s = ok(&outcome);
    let entries = s["validationErrors"].as_array().expect("validationErrors");
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.iter().all(|e| e["errors"][0]["message"] == "must be string"));

    for (schema, message) in [
        (
            "{ type: 'string', format: 'email' }",
            "unknown format \"email\" ignored in schema at path \"#\"",
        ),
        (
            "{ type: 'string', colour: 'red' }",
            "strict mode: unknown keyword: \"colour\"",
        ),
        ("{ $ref: 'other.json' }", "can't resolve reference other.json"),
        (
            "'https://example.com/schema.json'",
            "validate() cannot fetch the schema",
        ),
        ("'$.nowhere'", "validate() found no JSON schema"),
    ] {
        let outcome = run(&format!("validate({schema}, 'x');"), json!({})).await;
        let error = err(&outcome);
        assert_eq!(error["name"], "AdaptorError", "{schema}: {error}");
        let text = error["message"].as_str().unwrap_or_default();
        assert!(text.starts_with(message), "{schema}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_each_restores_data_but_keeps_other_changes() {
    let job = r#"
beta.each('$.data.items[*]', fn(state => ({ ...state, seen: [...(state.seen ?? []), state.data * 10] })));
fn(state => ({ ...state, afterBeta: state.data, indexAfterBeta: state.index }));
each('$.data.items[*]', fn(state => state));
"#;
    let outcome = run(job, json!({"data": {"items": [1, 2, 3]}})).await;
    let s = ok(&outcome);
    assert_eq!(s["seen"], json!([10, 20, 30]));
    assert_eq!(s["afterBeta"], json!({"items": [1, 2, 3]}), "beta.each restores data");
    assert_eq!(s["indexAfterBeta"], 2, "and keeps index, as language-common does");
    assert_eq!(s["data"], 3, "plain each does not restore data");

    let outcome = run("beta.each(null, fn(s => s));", json!({})).await;
    let error = err(&outcome);
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("dataSource argument for each operation is invalid"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn util_helpers_as_language_common_defines_them() {
    let job = r#"
fn(state => {
  const midnight = new Date();
  midnight.setUTCHours(0, 0, 0, 0);
  const day = 24 * 3600 * 1000;
  state.dates = [
    util.parseDate('today').getTime() === midnight.getTime(),
    util.parseDate('yesterday').getTime() === midnight.getTime() - day,
    util.parseDate('3 days ago').getTime() === midnight.getTime() - 3 * day,
    Math.abs(util.parseDate('2 hours ago').getTime() - (Date.now() - 2 * 3600 * 1000)) < 5000,
    util.parseDate('start', 'the start') === 'the start',
    util.parseDate('Today'),
    util.parseDate('next week'),
  ];
  state.expanded = util.expandReferences(state, s => s.data.x, { y: s => s.data.x + 1 }, 7);
  state.auth = util.makeBasicAuthHeader('user', 'pass');
  state.encoded = util.encode('Hello World');
  try {
    util.assertRelativeUrl('https://example.com/x');
  } catch (e) {
    state.absolute = [e.message, e.code, e.url];
  }
  util.assertRelativeUrl('/a/b');
  try {
    util.get('https://example.com');
  } catch (e) {
    state.offline = e.message;
  }
  return state;
});
cursor('today', { format: d => dateFns.format(d, 'yyyy-MM-dd') });
cursor('today', { key: 'iso', format: () => undefined });
"#;
    let outcome = run(job, json!({"data": {"x": 1}})).await;
    let s = ok(&outcome);
    assert_eq!(s["dates"], json!([true, true, true, true, true, "Today", "next week"]));
    assert_eq!(s["expanded"], json!([1, {"y": 2}, 7]));
    assert_eq!(s["auth"], json!({"Authorization": "Basic dXNlcjpwYXNz"}));
    assert_eq!(s["encoded"], "SGVsbG8gV29ybGQ=");
    assert_eq!(
        s["absolute"],
        json!([
            "UNEXPECTED_ABSOLUTE_URL",
            "UNEXPECTED_ABSOLUTE_URL",
            "https://example.com/x"
        ])
    );
    assert!(
        s["offline"]
            .as_str()
            .unwrap_or_default()
            .starts_with("util.get is not available in the sandbox"),
        "{}",
        s["offline"]
    );
    let cursor = s["cursor"].as_str().expect("cursor");
    assert!(
        cursor.len() == 10 && cursor.as_bytes()[4] == b'-',
        "formatted as yyyy-MM-dd: {cursor}"
    );
    let iso = s["iso"].as_str().expect("iso");
    assert!(
        iso.starts_with(cursor) && iso.ends_with("T00:00:00.000Z"),
        "a formatter returning undefined stores the ISO date: {iso}"
    );

    // throwError: `code: description` with the extra fields as the error's details.
    let job = "fn(() => util.throwError('BAD_THING', { description: 'it broke', fix: 'mend it', id: 7 }));";
    let outcome = run(job, json!({})).await;
    let error = err(&outcome);
    assert_eq!(error["name"], "AdaptorError");
    assert_eq!(error["message"], "BAD_THING: it broke");
    assert_eq!(
        error["details"],
        json!({"message": "BAD_THING: it broke", "code": "BAD_THING", "description": "it broke", "fix": "mend it", "id": 7})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_common_step_in_a_workflow_uses_lodash_date_fns_and_validate() {
    let sim = canary_simulator();
    let fetch = Step {
        id: "fetch".into(),
        adaptor: Some("openlmis".into()),
        job: Some(Expression::JavaScript(
            "get('facilities', { query: { page: 0, size: 5 } });".into(),
        )),
        configuration: Configuration::Inline(canary_configuration(&sim.base_url())),
        state: None,
        next: vec![Edge {
            target: "summarise".into(),
            when: When::JavaScript("state.data.content.length > 0".into()),
        }],
    };
    let summarise = Step {
        id: "summarise".into(),
        adaptor: Some("@openfn/language-common@3.3.4".into()),
        job: Some(Expression::JavaScript(
            r#"
fn(state => {
  const facilities = state.data.content;
  state.byType = _.mapValues(_.groupBy(facilities, 'type.code'), list => _.map(list, 'code').sort());
  state.count = _.size(facilities);
  state.day = dateFns.format(new Date(Date.UTC(2026, 10, 30)), 'EEEE do MMMM yyyy');
  return state;
});
each($.data.content, validate({ $id: 'facility', type: 'object', required: ['code', 'name', 'missing'] }));
"#
            .into(),
        )),
        configuration: Configuration::None,
        state: None,
        next: vec![],
    };
    let workflow = Workflow {
        steps: vec![fetch, summarise],
        start: "fetch".into(),
    };
    let request = RunRequest::new("run-1", Plan::Workflow(workflow), json!({}));
    let outcome = adaptor_host::run(host(), request, Arc::new(|_| {}), &Cancel::new()).await;
    assert_eq!(outcome.report.reason, Reason::Success, "{:?}", outcome.report);
    let FinalState::One(state) = outcome.state else {
        panic!("one leaf expected: {:?}", outcome.state);
    };
    let count = state["count"].as_u64().expect("count");
    assert_eq!(count, 5);
    // Every simulated facility is a health center: one group, its codes sorted.
    let groups = state["byType"].as_object().expect("byType");
    assert_eq!(groups.keys().collect::<Vec<_>>(), ["health_center"]);
    let codes = groups["health_center"].as_array().expect("codes");
    assert_eq!(codes.len(), 5);
    assert!(codes.windows(2).all(|w| w[0].as_str() < w[1].as_str()), "{codes:?}");
    assert_eq!(state["day"], "Monday 30th November 2026");
    let entries = state["validationErrors"].as_array().expect("validationErrors");
    assert_eq!(entries.len() as u64, count);
    assert!(
        entries
            .iter()
            .all(|e| e["errors"][0]["params"]["missingProperty"] == "missing")
    );
}
