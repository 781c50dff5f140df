// @openfn/language-common 3.3.4's job API, and @openfn/runtime 1.9's operation runner,
// written for this sandbox. The natives (host calls, JSONPath, log, base64, uuid) come
// from the Rust side as the global `__openfn`, which this module takes and removes
// before any job code runs.

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

function parseCursorDate(value) {
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  if (text === 'start') return new Date(startTime);
  if (text === 'now' || text === 'end') return new Date();
  if (text === 'today') return midnight();
  if (text === 'yesterday') return midnight(1);
  const n = text.match(/\d+/);
  if (n && /hours? ago$/.test(text)) return new Date(Date.now() - Number(n[0]) * 3600 * 1000);
  if (n && /days? ago$/.test(text)) return midnight(Number(n[0]));
  return undefined;
}

export function cursor(value, options = {}) {
  if (startTime === undefined) startTime = Date.now();
  return state => {
    const { format, ...rest } = options ?? {};
    const [cursorValue, opts] = resolve(state, value, rest);
    if (opts.key) cursorKey = opts.key;
    const v = cursorValue ?? opts.defaultValue;
    const date = parseCursorDate(v);
    if (date) {
      state[cursorKey] = format ? format(date) : date.toISOString();
      write('ADA', 'info', [`Setting cursor "${v}" to: ${human(date)}`]);
    } else {
      state[cursorKey] = format ? format(v) : v;
      write('ADA', 'info', [`Setting cursor to: ${show(state[cursorKey])}`]);
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

export function parseCsv(csvData, parsingOptions = {}, callback) {
  return async state => {
    const [text, opts] = resolve(state, csvData, parsingOptions);
    const rows = parseCsvText(String(text), opts ?? {});
    const chunkSize = opts?.chunkSize > 0 ? opts.chunkSize : Infinity;
    let current = state;
    for (let i = 0; i < Math.max(rows.length, 1); i += chunkSize === Infinity ? Math.max(rows.length, 1) : chunkSize) {
      const part = rows.slice(i, chunkSize === Infinity ? undefined : i + chunkSize);
      current = callback ? await callback(current, part) : composeNextState(current, part);
    }
    return current;
  };
}

function parseCsvText(text, opts) {
  const delimiter = opts.delimiter ?? ',';
  const quote = opts.quote ?? '"';
  const escape = opts.escape ?? '"';
  const columns = opts.columns ?? true;
  const skipEmpty = opts.skip_empty_lines ?? true;
  const ltrim = opts.trim ?? opts.ltrim ?? false;
  const rtrim = opts.trim ?? opts.rtrim ?? false;
  if ((opts.bom ?? true) && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records = [];
  let row = [];
  let cell = '';
  let quoted = false;
  let wasQuoted = false;
  const endCell = () => {
    let v = cell;
    if (!wasQuoted) {
      if (ltrim) v = v.replace(/^\s+/, '');
      if (rtrim) v = v.replace(/\s+$/, '');
    }
    row.push(v);
    cell = '';
    wasQuoted = false;
  };
  const endRow = () => {
    endCell();
    if (!(skipEmpty && row.length === 1 && row[0] === '')) records.push(row);
    row = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === escape && text[i + 1] === quote) {
        cell += quote;
        i++;
      } else if (c === quote) quoted = false;
      else cell += c;
    } else if (c === quote && cell.trim() === '') {
      quoted = true;
      wasQuoted = true;
      cell = '';
    } else if (text.startsWith(delimiter, i)) {
      endCell();
      i += delimiter.length - 1;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRow();
    } else cell += c;
  }
  if (cell !== '' || row.length) endRow();
  if (!columns) return records;
  const header = Array.isArray(columns) ? columns : records.shift() ?? [];
  return records.map(r => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

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
  expandReferences: (value, state) => expandReferences(state, value),
  throwError(code, { description, fix, ...extras } = {}) {
    const error = new Error(description ?? code);
    error.code = code;
    if (fix) error.fix = fix;
    Object.assign(error, extras);
    throw adaptorError(error.message, { code, fix, ...extras });
  },
};

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
