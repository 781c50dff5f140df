// @openfn/language-common 3.3.4's job API, and @openfn/runtime 1.9's operation runner,
// written for this sandbox. The natives (host calls, JSONPath, log, base64, uuid, and
// the loader of the lazily evaluated parts) come from the Rust side as the global
// `__openfn`, which this module takes and removes before any job code runs.

const N = globalThis.__openfn;
delete globalThis.__openfn;

// Marks errors that come from the adaptor side (OpenFn's AdaptorError).
const ADAPTOR = Symbol('openfn.adaptor');

function adaptorError(message, details) {
  const error = new Error(message);
  if (details && typeof details === 'object') Object.assign(error, details);
  error[ADAPTOR] = details ?? {};
  return error;
}

// --- parts evaluated on first use --------------------------------------------------

// Every job evaluates this module, so what most jobs never use lives in scripts that
// the natives evaluate on a job's first use: lodash.js (`_`), datefns.js (`dateFns`),
// extras.js (`validate`, `beta.each`, the rarer `util` helpers) and validator.js
// (`validate`'s JSON Schema validator). Each script's value is a function of this
// module's internals, called once.
const loaded = {};
const load = name => (loaded[name] ??= N.load(name)(internals));
const later = (part, name) => (...args) => load(part)[name](...args);

// Until first used, `_` and `dateFns` are native stand-ins: any use (a property, a
// call, `in`, Object.keys) runs the function given, which loads the part and rebinds
// the export to it, so later uses through the import go straight to the part.
export let _ = N.standIn(() => (_ = load('lodash')), true);
export let dateFns = N.standIn(() => (dateFns = load('dateFns')), false);

// --- logging ---------------------------------------------------------------------

function show(value) {
  if (typeof value === 'string') return value;
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `[Function${value.name ? ': ' + value.name : ''}]`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text;
  } catch (e) {
    return String(value);
  }
}

// A value as JSON for the host: strings, numbers, booleans, null, plain data as they
// are, an Error as {name, message} (as OpenFn's JSON logger serializes it), anything
// else as show() prints it.
function part(value) {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === 'object') {
    try {
      const text = JSON.stringify(value);
      if (text !== undefined) return JSON.parse(text);
    } catch (e) {
      // A cycle, a BigInt: printed as text below.
    }
  }
  return show(value);
}

// One log line: `SOURCE[] [text, [values...]]`: the text as show() prints it, and the
// values apart, as OpenFn's JSON logger sends them (its `sanitize` policies work on them).
function write(source, level, args) {
  N.log(`${source}[]`, level, JSON.stringify([args.map(show).join(' '), args.map(part)]));
}

globalThis.console = {
  log: (...a) => write('JOB', 'info', a),
  info: (...a) => write('JOB', 'info', a),
  warn: (...a) => write('JOB', 'warn', a),
  error: (...a) => write('JOB', 'error', a),
  debug: (...a) => write('JOB', 'debug', a),
  trace: (...a) => write('JOB', 'trace', a),
};

// Timers run as soon as the job's promises allow: the sandbox has no clock to wait on.
let timerIds = 0;
const cancelled = new Set();
globalThis.setTimeout = (f, _ms, ...args) => {
  const id = ++timerIds;
  Promise.resolve().then(() => {
    if (!cancelled.delete(id)) f(...args);
  });
  return id;
};
globalThis.clearTimeout = id => {
  cancelled.add(id);
};
globalThis.setInterval = () => {
  throw new Error('setInterval is not available in the sandbox');
};

// --- lazy state ------------------------------------------------------------------

function isPlainObject(v) {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// expandReferences: functions are called with state (and their result expanded),
// arrays and plain objects deeply; anything else is kept.
export function expandReferences(state, value) {
  if (typeof value === 'function') return expandReferences(state, value(state));
  if (Array.isArray(value)) return value.map(v => expandReferences(state, v));
  if (isPlainObject(value)) {
    const out = {};
    for (const k of Object.keys(value)) out[k] = expandReferences(state, value[k]);
    return out;
  }
  return value;
}

function resolve(state, ...values) {
  return values.map(v => expandReferences(state, v));
}

// --- state composition -----------------------------------------------------------

// Evaluates every lazily loaded part now. The runtime's pre-initialization calls it,
// so the snapshot each job's instance starts from has them ready, and a job's first
// use of `_`, `dateFns` or `validate` costs nothing; without a snapshot (a host that
// runs the runtime directly) the parts stay lazy.
export function __preload() {
  _ = load('lodash');
  dateFns = load('dateFns');
  load('extras');
  load('validator');
}

export function composeNextState(state, data) {
  if (!state.references) state.references = [];
  return { ...state, data, references: [...state.references, state.data] };
}

// An adaptor operation: its arguments resolved against the state, the host call, and
// the output composed into the next state. A function given beyond the operation's
// parameters is a callback run on the next state.
export function __operation(name, params) {
  const factory = (...args) => {
    let callback;
    if (args.length > params.length && typeof args[args.length - 1] === 'function') callback = args.pop();
    return async state => {
      const resolved = resolve(state, ...args);
      while (resolved.length && resolved[resolved.length - 1] === undefined) resolved.pop();
      const [ok, out] = N.call(name, resolved);
      if (!ok) throw adaptorError(out.message, { ...out.details, kind: out.kind });
      let next = state;
      for (const earlier of out.earlierData ?? []) next = composeNextState(next, earlier);
      next = composeNextState(next, out.data);
      if (out.response !== undefined) next.response = out.response;
      if (callback) next = await callback(next);
      return next;
    };
  };
  Object.defineProperty(factory, 'name', { value: name });
  return factory;
}

// --- JSONPath --------------------------------------------------------------------

function query(path, root) {
  return N.jsonpath(String(path), root);
}

function stripPath(path) {
  const match = String(path).match(/^[$.]*(.+)/);
  if (!match) throw new TypeError(`Cannot read a path from ${JSON.stringify(path)}`);
  return match[1];
}

export const dataPath = path => '$.data.' + stripPath(path);
export const dataValue = path => state => query(dataPath(path), state)[0];
export const referencePath = path => '$.references' + stripPath(path);
export const lastReferenceValue = path => state => query('$.references[0].' + stripPath(path), state)[0];
export const sourceValue = path => state => query(path, state)[0];
export const source = path => state => query(path, state);
export const jsonValue = (obj, path) => query(path, obj)[0];

function asData(data, state) {
  if (typeof data === 'string') return query(data, state);
  if (typeof data === 'function') return data(state);
  return data;
}

// --- operations ------------------------------------------------------------------

export function execute(...operations) {
  return state => operations.reduce((p, op) => p.then(op), Promise.resolve(state));
}

export const fn = f => state => f(state);
export const alterState = fn;

export function fnIf(condition, operation) {
  return state => {
    const [ok] = resolve(state, condition);
    return ok ? operation(state) : state;
  };
}

export function each(dataSource, operation) {
  if (!dataSource) throw adaptorError('No data source given to each()');
  return async state => {
    const items = asData(dataSource, state);
    if (!Array.isArray(items)) {
      throw adaptorError(`each() expects an array of items, got ${show(items)}`);
    }
    let current = state;
    for (let index = 0; index < items.length; index++) {
      current = await operation({ ...current, data: items[index], index });
    }
    return current;
  };
}

// language-common's `beta` namespace: `each` that restores the original `data`.
export const beta = { each: later('extras', 'betaEach') };

export function combine(...operations) {
  return async state => {
    let current = state;
    for (const op of operations) current = await op({ ...current });
    return current;
  };
}

export const field = (key, value) => [key, value];
export const fields = (...pairs) => Object.fromEntries(pairs);

export function merge(dataSource, fieldsObject) {
  return state => {
    const [values] = resolve(state, fieldsObject);
    return asData(dataSource, state).map(item => ({ ...item, ...values }));
  };
}

export function join(targetPath, sourcePath, targetKey) {
  return state =>
    asData(targetPath, state).map(item => ({ [targetKey]: sourceValue(sourcePath)(state), ...item }));
}

export function as(key, operation) {
  return async state => {
    const [name] = resolve(state, key);
    const saved = state.data;
    const result = await operation(state);
    const { data, ...rest } = result ?? {};
    state[name] = data;
    state.data = saved;
    return { ...state, ...rest };
  };
}

function getPath(object, path) {
  if (object == null) return undefined;
  const keys = Array.isArray(path) ? path : String(path).replace(/\[([^\]]*)\]/g, '.$1').split('.').filter(k => k !== '');
  let value = object;
  for (const k of keys) {
    if (value == null) return undefined;
    value = value[k];
  }
  return value;
}

export function group(arrayOfObjects, keyPath, callback = s => s) {
  return state => {
    const [items, path] = resolve(state, arrayOfObjects, keyPath);
    const groups = {};
    for (const item of items) {
      const k = String(getPath(item, path));
      (groups[k] ??= []).push(item);
    }
    delete groups.undefined;
    return callback({ ...state, data: groups });
  };
}

export function map(path, callback) {
  return async state => {
    const values = typeof path === 'string' ? query(path, state) : path;
    if (values == null || typeof values[Symbol.iterator] !== 'function') {
      throw adaptorError('values is not iterable');
    }
    const results = [];
    let index = 0;
    for (const value of values) results.push(await callback(value, index++, state));
    return { ...state, data: results };
  };
}

export function chunk(array, chunkSize) {
  const size = Number(chunkSize);
  if (!(size > 0)) throw adaptorError(`chunk() needs a positive chunk size, got ${show(chunkSize)}`);
  const out = [];
  for (let i = 0; i < array.length; i += size) out.push(array.slice(i, i + size));
  return out;
}

export function log(...args) {
  return state => {
    write('ADA', 'info', resolve(state, ...args));
    return state;
  };
}

export function debug(...args) {
  return state => {
    write('ADA', 'debug', resolve(state, ...args));
    return state;
  };
}

export function assert(expression, errorMessage) {
  return state => {
    const [value] = resolve(state, expression);
    if (!value) throw adaptorError(errorMessage || `assertion statement failed with ${show(value)}`);
    return state;
  };
}

export const index = () => state => state.index;

// --- cursor ----------------------------------------------------------------------

let startTime;
let cursorKey = 'cursor';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function human(date) {
  const pad = n => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())} ${date.getDate()} ${MONTHS[date.getMonth()]} ${date.getFullYear()} (GMT+0)`;
}

function midnight(daysBack = 0) {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  d.setDate(d.getDate() - daysBack);
  return d;
}

// util.parseDate: a natural-language date (`start`, `now`/`end`, `today`, `yesterday`,
// `N hours ago`, `N days ago`, matched exactly as written) as a Date; anything else is
// returned as it is.
function parseDate(d, startDate) {
  if (d === 'start') return startDate;
  if (d === 'now' || d === 'end') return new Date();
  if (d === 'today') return midnight();
  if (d === 'yesterday') return midnight(1);
  const ago = typeof d === 'string' && d.match(/(hours?|days?) ago$/);
  if (ago) {
    const n = d.match(/\d+/);
    if (!n) {
      write('ADA', 'info', [`Error converting ${d} into a date`]);
      return d;
    }
    if (ago[1].startsWith('hour')) return new Date(Date.now() - Number(n[0]) * 3600 * 1000);
    return midnight(Number(n[0]));
  }
  return d;
}

export function cursor(value, options = {}) {
  return state => {
    const { format, ...rest } = options ?? {};
    const [cursorValue, opts] = resolve(state, value, rest);
    if (opts.key) cursorKey = opts.key;
    if (startTime === undefined) startTime = new Date();
    const v = cursorValue ?? opts.defaultValue;
    const date = typeof v === 'string' ? parseDate(v, startTime) : undefined;
    if (date instanceof Date) {
      state[cursorKey] = format?.(date) ?? date.toISOString();
      const shown = format ? state[cursorKey] : human(date);
      write('ADA', 'info', [`Setting ${cursorKey} "${v}" to: ${shown}`]);
    } else {
      state[cursorKey] = format?.(v) ?? v;
      write('ADA', 'info', [`Setting ${cursorKey} to:`, state[cursorKey]]);
    }
    return state;
  };
}

// --- plain helpers ---------------------------------------------------------------

export const toArray = arg => [].concat(arg);

export const arrayToString = (arr, separator) => Array.apply(null, arr).join(separator);

export function humanProper(str) {
  if (typeof str !== 'string') return str;
  return str.replace(/[_-]/g, ' ').replace(/\w\S*/g, w => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase());
}

export function splitKeys(obj, keys) {
  const without = {};
  const withKeys = {};
  for (const k of Object.keys(obj)) (keys.includes(k) ? withKeys : without)[k] = obj[k];
  return [without, withKeys];
}

export function scrubEmojis(text, replacementChars) {
  if (!text) return text;
  if (replacementChars === '') write('ADA', 'warn', ['Removing characters from string. Use scrubEmojis(text, replacement) to replace them.']);
  const replacement = replacementChars ?? '\uFFFD';
  return text.replace(/(\uFE0F|\u00A9|\u00AE|[\u2000-\u3300]|\uD83C[\uD000-\uDFFF]|\uD83D[\uD000-\uDFFF]|\uD83E[\uD000-\uDFFF])/g, replacement);
}

// parseCsv(csv, options, callback): in extras.js, loaded on first use.
export const parseCsv = later('extras', 'parseCsv');

// --- validate --------------------------------------------------------------------

export const validate = later('extras', 'validate');

// --- util ------------------------------------------------------------------------

export const util = {
  encode(data, options = {}) {
    const { parseJson = true } = options;
    const text = typeof data === 'string' || !parseJson ? String(data) : JSON.stringify(data);
    return N.encode(text);
  },
  decode(base64, options = {}) {
    const { parseJson = true } = options;
    const text = N.decode(String(base64));
    if (parseJson && /^\s*[[{]/.test(text)) {
      try {
        return JSON.parse(text);
      } catch (e) {
        return text;
      }
    }
    return text;
  },
  uuid: () => N.uuid(),
  parseDate,
  expandReferences: (state, ...args) => resolve(state, ...args),
  throwError(code, { description, fix, ...extras } = {}) {
    const details = { code };
    if (description) details.description = description;
    if (fix) details.fix = fix;
    throw adaptorError(description ? `${code}: ${description}` : code, Object.assign(details, extras));
  },
  ERROR_ABSOLUTE_URL: 'Absolute URLs not supported',
  ERROR_URL_MISMATCH: 'Target origin does not match baseUrl origin',
};

// The rarer util helpers, and those the sandbox cannot offer (they fail saying why).
for (const name of ['makeBasicAuthHeader', 'assertRelativeUrl', 'normalizeOauthConfig', 'request', 'get', 'post', 'put', 'del', 'parseUrl', 'encodeFormBody']) {
  util[name] = later('extras', name);
}

// What the lazily evaluated parts use of this module.
const internals = { adaptorError, asData, composeNextState, load, query, resolve, show, write, N };

// --- @openfn/runtime --------------------------------------------------------------

export function __defer(fn, complete = p => p, error = e => { throw e; }) {
  return state => complete(Promise.resolve(fn(state)).catch(e => error(e, state)));
}

// --- the runner -------------------------------------------------------------------

// OpenFn's error entry for a thrown value.
N.classify = (e, operation) => {
  const entry = { source: 'runtime' };
  if (e && typeof e === 'object' && e[ADAPTOR] !== undefined) {
    Object.assign(entry, { name: 'AdaptorError', severity: 'fail', message: e.message });
    entry.details = { message: e.message, ...e[ADAPTOR] };
    if (operation?.name) entry.operationName = operation.name;
    if (operation?.line) entry.line = operation.line;
  } else if (e instanceof TypeError || e instanceof RangeError) {
    Object.assign(entry, { name: 'RuntimeError', severity: 'fail', message: `${e.name}: ${e.message}`, subtype: e.name });
  } else if (e instanceof ReferenceError || e instanceof SyntaxError) {
    Object.assign(entry, { name: 'RuntimeCrash', severity: 'crash', message: `${e.name}: ${e.message}`, subtype: e.name });
  } else if (e instanceof EvalError) {
    Object.assign(entry, { name: 'SecurityError', severity: 'kill', message: `${e.name}: ${e.message}` });
  } else {
    const message = e instanceof Error ? e.message : typeof e === 'string' ? e : show(e);
    Object.assign(entry, { name: 'JobError', severity: 'fail', message });
  }
  return entry;
};

// Runs the default export on `state` as @openfn/runtime does: each operation awaited in
// turn; one that returns nothing gives the next an empty object. Resolves to
// `{state}` or `{error}`.
N.runJob = async (operations, state, infos) => {
  if (!Array.isArray(operations)) {
    return { error: { source: 'runtime', name: 'RuntimeCrash', severity: 'crash', subtype: 'InvalidExportsError', message: 'InvalidExportsError: the default export must be an array of operations' } };
  }
  for (let i = 0; i < operations.length; i++) {
    if (typeof operations[i] !== 'function') {
      return { error: { source: 'runtime', name: 'RuntimeCrash', severity: 'crash', subtype: 'InvalidOperationError', message: `InvalidOperationError: Invalid operation at statement ${i}` } };
    }
  }
  let current = state;
  for (let i = 0; i < operations.length; i++) {
    const info = infos[i];
    const started = Date.now();
    write('R/T', 'debug', [`Starting operation ${i + 1}${info?.name ? ' (' + info.name + ')' : ''}`]);
    try {
      current = await operations[i](current);
    } catch (e) {
      return { error: N.classify(e, info) };
    }
    if (current === undefined || current === null) {
      write('R/T', 'warn', [`Operation ${i + 1} did not return a state object: the next operation gets {}`]);
      current = {};
    }
    write('R/T', 'debug', [`Operation ${i + 1} complete in ${Date.now() - started}ms`]);
  }
  return { state: current };
};
