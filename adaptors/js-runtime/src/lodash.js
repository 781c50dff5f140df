// `_`: the lodash 4 functions OpenFn jobs use, written for this sandbox with lodash's
// semantics (iteratee shorthands, SameValueZero equality, stable sorts, `_(value)` and
// `_.chain(value)` wrappers). language-common re-exports lodash as `_`; the list of what
// is here is in docs/javascript-jobs.md. This script is evaluated only when a job first
// touches `_` (see `load` in common.js); its value is a function returning `_`.
(() => {
  'use strict';

  // --- types -----------------------------------------------------------------------

  const tag = v => Object.prototype.toString.call(v);
  const isObject = v => v !== null && (typeof v === 'object' || typeof v === 'function');
  const isObjectLike = v => v !== null && typeof v === 'object';
  const isFunction = v => typeof v === 'function';
  const isNil = v => v === null || v === undefined;
  const isString = v => typeof v === 'string' || tag(v) === '[object String]';
  const isNumber = v => typeof v === 'number' || tag(v) === '[object Number]';
  const isBoolean = v => v === true || v === false || tag(v) === '[object Boolean]';
  const isDate = v => tag(v) === '[object Date]';
  const isRegExp = v => tag(v) === '[object RegExp]';
  const isSymbol = v => typeof v === 'symbol';
  const isLength = v => typeof v === 'number' && v > -1 && v % 1 === 0 && v <= Number.MAX_SAFE_INTEGER;
  const isArrayLike = v => v != null && typeof v !== 'function' && isLength(v.length);
  function isPlainObject(v) {
    if (!isObjectLike(v) || tag(v) !== '[object Object]') return false;
    const proto = Object.getPrototypeOf(v);
    if (proto === null) return true;
    const Ctor = Object.prototype.hasOwnProperty.call(proto, 'constructor') && proto.constructor;
    return typeof Ctor === 'function' && Function.prototype.toString.call(Ctor) === Function.prototype.toString.call(Object);
  }
  // SameValueZero: NaN equals NaN, +0 equals -0.
  const eq = (a, b) => a === b || (a !== a && b !== b);

  function toNumber(v) {
    if (typeof v === 'number') return v;
    if (isSymbol(v)) return NaN;
    if (isObject(v)) {
      const p = typeof v.valueOf === 'function' ? v.valueOf() : v;
      v = isObject(p) ? String(p) : p;
    }
    if (typeof v !== 'string') return v === 0 ? v : +v;
    const s = v.trim();
    if (/^0b[01]+$/i.test(s)) return parseInt(s.slice(2), 2);
    if (/^0o[0-7]+$/i.test(s)) return parseInt(s.slice(2), 8);
    if (/^[-+]0x[0-9a-f]+$/i.test(s)) return NaN;
    return +s;
  }
  function toFinite(v) {
    if (!v) return v === 0 ? v : 0;
    v = toNumber(v);
    if (v === Infinity || v === -Infinity) return (v < 0 ? -1 : 1) * Number.MAX_VALUE;
    return v === v ? v : 0;
  }
  function toInteger(v) {
    const f = toFinite(v);
    const r = f % 1;
    return f === f ? (r ? f - r : f) : 0;
  }
  function toString(v) {
    if (typeof v === 'string') return v;
    if (v == null) return '';
    if (Array.isArray(v)) return v.map(x => (x == null ? x : toString(x))).join(',');
    if (isSymbol(v)) return v.toString();
    const s = `${v}`;
    return s === '0' && 1 / v === -Infinity ? '-0' : s;
  }

  // --- paths -----------------------------------------------------------------------

  // 'a[0].b', 'a["b.c"]' → ['a', '0', 'b'], ['a', 'b.c'].
  function stringToPath(s) {
    const out = [];
    if (s.charCodeAt(0) === 46) out.push('');
    s.replace(/[^.[\]]+|\[(?:([^"'][^[]*)|(["'])((?:(?!\2)[^\\]|\\.)*?)\2)\]|(?=(?:\.|\[\])(?:\.|\[\]|$))/g, (m, n, q, sub) => {
      out.push(q ? sub.replace(/\\(\\)?/g, '$1') : n !== undefined ? n.trim() : m);
    });
    return out;
  }
  // A path as keys; a string naming an own key of `object` is that one key.
  function castPath(path, object) {
    if (Array.isArray(path)) return path;
    if (isSymbol(path) || typeof path === 'number') return [path];
    const s = toString(path);
    if (!/[.[\]]/.test(s) || (object != null && s in Object(object))) return [s];
    return stringToPath(s);
  }
  const toKey = k => (typeof k === 'string' || isSymbol(k) ? k : (k === 0 && 1 / k === -Infinity ? '-0' : `${k}`));
  const isIndex = k => /^(?:0|[1-9]\d*)$/.test(String(k)) && Number(k) < Number.MAX_SAFE_INTEGER;

  function get(object, path, defaultValue) {
    const keys = castPath(path, object);
    let v = object;
    let i = 0;
    while (v != null && i < keys.length) v = v[toKey(keys[i++])];
    const result = i && i === keys.length ? v : undefined;
    return result === undefined ? defaultValue : result;
  }
  function has(object, path) {
    const keys = castPath(path, object);
    let v = object;
    for (const k of keys) {
      if (v == null || !Object.prototype.hasOwnProperty.call(Object(v), toKey(k))) return false;
      v = v[toKey(k)];
    }
    return keys.length > 0;
  }
  function hasIn(object, path) {
    const keys = castPath(path, object);
    let v = object;
    for (const k of keys) {
      if (v == null || !(toKey(k) in Object(v))) return false;
      v = v[toKey(k)];
    }
    return keys.length > 0;
  }
  function set(object, path, value) {
    if (!isObject(object)) return object;
    const keys = castPath(path, object);
    let node = object;
    for (let i = 0; i < keys.length && node != null; i++) {
      const key = toKey(keys[i]);
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') return object;
      if (i === keys.length - 1) {
        node[key] = value;
      } else {
        const next = node[key];
        if (!isObject(next)) node[key] = isIndex(keys[i + 1]) ? [] : {};
        node = node[key];
      }
    }
    return object;
  }
  function unset(object, path) {
    const keys = castPath(path, object);
    if (!keys.length) return true;
    const parent = keys.length < 2 ? object : get(object, keys.slice(0, -1));
    return parent == null || delete parent[toKey(keys[keys.length - 1])];
  }

  // --- iteratees -------------------------------------------------------------------

  const identity = v => v;
  const property = path => object => get(object, path);
  // Partial deep match: every key of `source` matches in `object`; arrays in `source`
  // match when each of their elements matches some element of the object's array.
  function isMatch(object, source) {
    if (object === source) return true;
    if (!isObject(source)) return eq(object, source);
    if (object == null) return Object.keys(source).length === 0;
    if (Array.isArray(source)) {
      if (!Array.isArray(object)) return false;
      return source.every(s => object.some(o => isMatch(o, s)));
    }
    if (!isPlainObject(source)) return isEqual(object, source);
    return Object.keys(source).every(k => k in Object(object) && isMatch(object[k], source[k]));
  }
  const matches = source => {
    const copy = cloneDeep(source);
    return object => isMatch(object, copy);
  };
  const matchesProperty = (path, value) => {
    const copy = cloneDeep(value);
    return object => {
      const v = get(object, path);
      return v === undefined && copy === undefined ? hasIn(object, path) : isMatch(v, copy);
    };
  };
  function iteratee(f) {
    if (typeof f === 'function') return f;
    if (f == null) return identity;
    if (Array.isArray(f)) return matchesProperty(f[0], f[1]);
    if (typeof f === 'object') return matches(f);
    return property(f);
  }

  // Entries a collection iterates: arrays (and strings, array-likes) by index, objects
  // by own enumerable keys.
  function entries(collection) {
    if (collection == null) return [];
    if (isArrayLike(collection)) {
      const a = typeof collection === 'string' ? Array.from(collection) : collection;
      return Array.from({ length: a.length }, (_v, i) => [i, a[i]]);
    }
    return Object.keys(Object(collection)).map(k => [k, collection[k]]);
  }
  const toArray = collection => {
    if (collection == null) return [];
    if (typeof collection === 'string') return Array.from(collection);
    if (collection instanceof Map || collection instanceof Set) return Array.from(collection.values());
    return entries(collection).map(e => e[1]);
  };

  // --- collections -----------------------------------------------------------------

  function forEach(collection, f = identity) {
    for (const [k, v] of entries(collection)) if (f(v, k, collection) === false) break;
    return collection;
  }
  const map = (collection, f) => {
    const fn = iteratee(f);
    return entries(collection).map(([k, v]) => fn(v, k, collection));
  };
  const filter = (collection, f) => {
    const fn = iteratee(f);
    return entries(collection).filter(([k, v]) => fn(v, k, collection)).map(e => e[1]);
  };
  const reject = (collection, f) => {
    const fn = iteratee(f);
    return filter(collection, (v, k, c) => !fn(v, k, c));
  };
  function find(collection, f, fromIndex = 0) {
    const fn = iteratee(f);
    const list = entries(collection);
    let start = toInteger(fromIndex);
    if (start < 0) start = Math.max(list.length + start, 0);
    for (let i = start; i < list.length; i++) if (fn(list[i][1], list[i][0], collection)) return list[i][1];
    return undefined;
  }
  function findLast(collection, f) {
    const fn = iteratee(f);
    const list = entries(collection);
    for (let i = list.length - 1; i >= 0; i--) if (fn(list[i][1], list[i][0], collection)) return list[i][1];
    return undefined;
  }
  function reduce(collection, f, ...initial) {
    const list = entries(collection);
    let i = 0;
    let acc = initial[0];
    if (!initial.length && list.length) acc = list[i++][1];
    for (; i < list.length; i++) acc = f(acc, list[i][1], list[i][0], collection);
    return acc;
  }
  const some = (collection, f) => {
    const fn = iteratee(f);
    return entries(collection).some(([k, v]) => fn(v, k, collection));
  };
  const every = (collection, f) => {
    const fn = iteratee(f);
    return entries(collection).every(([k, v]) => fn(v, k, collection));
  };
  function includes(collection, value, fromIndex = 0) {
    if (typeof collection === 'string') return collection.indexOf(value, toInteger(fromIndex)) > -1;
    const values = toArray(collection);
    let start = toInteger(fromIndex);
    if (start < 0) start = Math.max(values.length + start, 0);
    for (let i = start; i < values.length; i++) if (eq(values[i], value)) return true;
    return false;
  }
  const size = collection => {
    if (collection == null) return 0;
    if (isArrayLike(collection)) return typeof collection === 'string' ? Array.from(collection).length : collection.length;
    if (collection instanceof Map || collection instanceof Set) return collection.size;
    return Object.keys(collection).length;
  };
  // An object of keys (the iteratee's results, as strings) to `add(current, value)`.
  function aggregate(collection, f, add) {
    const fn = iteratee(f);
    const out = {};
    for (const [, v] of entries(collection)) {
      const key = toKey(fn(v));
      out[key] = add(Object.prototype.hasOwnProperty.call(out, key) ? out[key] : undefined, v);
    }
    return out;
  }
  const groupBy = (collection, f) => aggregate(collection, f, (list = [], v) => (list.push(v), list));
  const keyBy = (collection, f) => aggregate(collection, f, (_old, v) => v);
  const countBy = (collection, f) => aggregate(collection, f, (n = 0) => n + 1);
  function partition(collection, f) {
    const fn = iteratee(f);
    const out = [[], []];
    for (const [, v] of entries(collection)) out[fn(v) ? 0 : 1].push(v);
    return out;
  }
  const flatMap = (collection, f) => flatten(map(collection, f));

  // Lodash's ascending order: values that compare with < and >, then symbols, null,
  // undefined and NaN, in that order; other pairs are equal (the sort is stable).
  function rank(v) {
    if (v === undefined) return 3;
    if (v === null) return 2;
    if (v !== v) return 4;
    if (isSymbol(v)) return 1;
    return 0;
  }
  function compareAscending(a, b) {
    if (a === b) return 0;
    const ra = rank(a);
    const rb = rank(b);
    if (ra !== rb) return ra < rb ? -1 : 1;
    if (ra !== 0) return 0;
    if (a > b) return 1;
    if (a < b) return -1;
    return 0;
  }
  function orderBy(collection, iteratees, orders) {
    if (collection == null) return [];
    let list = iteratees == null ? [identity] : Array.isArray(iteratees) ? iteratees : [iteratees];
    if (!list.length) list = [identity];
    const fns = list.map(f => (Array.isArray(f) ? v => get(v, f.length === 1 ? f[0] : f) : iteratee(f)));
    const directions = orders == null ? [] : Array.isArray(orders) ? orders : [orders];
    const rows = entries(collection).map(([k, v], index) => ({ v, index, criteria: fns.map(fn => fn(v, k, collection)) }));
    rows.sort((x, y) => {
      for (let i = 0; i < fns.length; i++) {
        const c = compareAscending(x.criteria[i], y.criteria[i]);
        if (c) return directions[i] === 'desc' ? -c : c;
      }
      return x.index - y.index;
    });
    return rows.map(r => r.v);
  }
  const sortBy = (collection, ...iteratees) => {
    const list = flattenDepth(iteratees, 1);
    return orderBy(collection, list.length ? list : [identity]);
  };

  function extreme(array, f, better) {
    if (!array || !array.length) return undefined;
    const fn = iteratee(f);
    let best;
    let bestValue;
    for (const v of array) {
      const c = fn(v);
      if (c != null && c === c && !isSymbol(c) && (bestValue === undefined || better(c, bestValue))) {
        best = v;
        bestValue = c;
      }
    }
    return best;
  }
  const maxBy = (array, f) => extreme(array, f, (a, b) => a > b);
  const minBy = (array, f) => extreme(array, f, (a, b) => a < b);
  // Skips undefined values; an empty list sums to 0; strings concatenate as `+` does.
  function sumBy(array, f) {
    const fn = iteratee(f);
    let result;
    for (const v of array ?? []) {
      const c = fn(v);
      if (c !== undefined) result = result === undefined ? c : result + c;
    }
    return result === undefined ? 0 : result;
  }
  const meanBy = (array, f) => {
    const n = array ? array.length : 0;
    return n ? sumBy(array, f) / n : NaN;
  };

  // --- arrays ----------------------------------------------------------------------

  const values = object => (object == null ? [] : entries(object).map(e => e[1]));
  function chunk(array, chunkSize = 1) {
    const n = Math.max(toInteger(chunkSize), 0);
    const list = array == null ? [] : toArray(array);
    if (!n) return [];
    const out = [];
    for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
    return out;
  }
  const compact = array => (array ?? []).filter(Boolean);
  function flattenDepth(array, depth = 1) {
    const out = [];
    const walk = (list, d) => {
      for (const v of list) {
        if (d > 0 && (Array.isArray(v) || tag(v) === '[object Arguments]')) walk(v, d - 1);
        else out.push(v);
      }
    };
    walk(array ?? [], toInteger(depth));
    return out;
  }
  const flatten = array => flattenDepth(array, 1);
  const flattenDeep = array => flattenDepth(array, Infinity);
  function uniqBy(array, f) {
    const fn = iteratee(f);
    const seen = [];
    const out = [];
    for (const v of array ?? []) {
      const c = fn(v);
      if (!seen.some(s => eq(s, c))) {
        seen.push(c);
        out.push(v);
      }
    }
    return out;
  }
  const uniq = array => uniqBy(array, identity);
  const uniqWith = (array, comparator) => {
    const out = [];
    for (const v of array ?? []) if (!out.some(o => comparator(v, o))) out.push(v);
    return out;
  };
  const arrays = lists => lists.filter(isArrayLikeObject);
  function isArrayLikeObject(v) {
    return isObjectLike(v) && isArrayLike(v);
  }
  const contains = (list, v) => list.some(x => eq(x, v));
  const difference = (array, ...others) => {
    if (!isArrayLikeObject(array)) return [];
    const exclude = flatten(arrays(others));
    return Array.from(array).filter(v => !contains(exclude, v));
  };
  const differenceBy = (array, ...rest) => {
    const f = isArrayLikeObject(rest[rest.length - 1]) ? identity : iteratee(rest.pop());
    const exclude = flatten(arrays(rest)).map(v => f(v));
    return isArrayLikeObject(array) ? Array.from(array).filter(v => !contains(exclude, f(v))) : [];
  };
  const without = (array, ...exclude) => (isArrayLikeObject(array) ? Array.from(array).filter(v => !contains(exclude, v)) : []);
  const intersection = (...lists) => {
    const all = arrays(lists).map(a => Array.from(a));
    if (!all.length) return [];
    return uniq(all[0]).filter(v => all.every(a => contains(a, v)));
  };
  const intersectionBy = (...rest) => {
    const f = isArrayLikeObject(rest[rest.length - 1]) ? identity : iteratee(rest.pop());
    const all = arrays(rest).map(a => Array.from(a));
    if (!all.length) return [];
    return uniqBy(all[0], f).filter(v => all.every(a => a.some(x => eq(f(x), f(v)))));
  };
  const union = (...lists) => uniq(flatten(arrays(lists)));
  const unionBy = (...rest) => {
    const f = isArrayLikeObject(rest[rest.length - 1]) ? identity : iteratee(rest.pop());
    return uniqBy(flatten(arrays(rest)), f);
  };
  const xor = (...lists) => {
    const all = arrays(lists).map(a => uniq(Array.from(a)));
    return uniq(flatten(all)).filter(v => all.filter(a => contains(a, v)).length === 1);
  };
  function unzip(array) {
    const lists = arrays(array ?? []);
    const length = Math.max(0, ...lists.map(a => a.length));
    return Array.from({ length }, (_v, i) => lists.map(a => a[i]));
  }
  const zip = (...lists) => unzip(lists);
  const zipObject = (props = [], vals = []) => {
    const out = {};
    props.forEach((k, i) => {
      out[k] = vals[i];
    });
    return out;
  };
  const zipObjectDeep = (props = [], vals = []) => {
    const out = {};
    props.forEach((k, i) => set(out, k, vals[i]));
    return out;
  };
  function fromPairs(pairs) {
    const out = {};
    for (const pair of pairs ?? []) out[pair[0]] = pair[1];
    return out;
  }
  function toPairs(object) {
    if (object instanceof Map) return Array.from(object.entries());
    if (object instanceof Set) return Array.from(object.values()).map(v => [v, v]);
    return object == null ? [] : Object.keys(Object(object)).map(k => [k, object[k]]);
  }
  const head = array => (array && array.length ? array[0] : undefined);
  const last = array => (array && array.length ? array[array.length - 1] : undefined);
  const tail = array => (array && array.length ? Array.prototype.slice.call(array, 1) : []);
  const initial = array => (array && array.length ? Array.prototype.slice.call(array, 0, -1) : []);
  const nth = (array, n = 0) => {
    if (!array || !array.length) return undefined;
    let i = toInteger(n);
    if (i < 0) i += array.length;
    return isIndex(i) ? array[i] : undefined;
  };
  const take = (array, n = 1) => (array ? Array.prototype.slice.call(array, 0, Math.max(toInteger(n), 0)) : []);
  const takeRight = (array, n = 1) => {
    const k = Math.max(toInteger(n), 0);
    return array && k ? Array.prototype.slice.call(array, -k) : [];
  };
  const drop = (array, n = 1) => (array ? Array.prototype.slice.call(array, Math.max(toInteger(n), 0)) : []);
  const dropRight = (array, n = 1) => {
    if (!array) return [];
    const end = array.length - Math.max(toInteger(n), 0);
    return Array.prototype.slice.call(array, 0, Math.max(end, 0));
  };
  function findIndex(array, f, fromIndex = 0) {
    const fn = iteratee(f);
    const n = array ? array.length : 0;
    let i = toInteger(fromIndex);
    if (i < 0) i = Math.max(n + i, 0);
    for (; i < n; i++) if (fn(array[i], i, array)) return i;
    return -1;
  }
  function findLastIndex(array, f) {
    const fn = iteratee(f);
    for (let i = (array ? array.length : 0) - 1; i >= 0; i--) if (fn(array[i], i, array)) return i;
    return -1;
  }
  function indexOf(array, value, fromIndex = 0) {
    const n = array ? array.length : 0;
    let i = toInteger(fromIndex);
    if (i < 0) i = Math.max(n + i, 0);
    for (; i < n; i++) if (eq(array[i], value)) return i;
    return -1;
  }
  function range(start, end, step) {
    start = toFinite(start);
    if (end === undefined) {
      end = start;
      start = 0;
    } else end = toFinite(end);
    step = step === undefined ? (start < end ? 1 : -1) : toFinite(step);
    const length = Math.max(Math.ceil((end - start) / (step || 1)), 0);
    return Array.from({ length }, (_v, i) => start + i * step);
  }
  function times(n, f = identity) {
    const count = toInteger(n);
    if (count < 1 || count > Number.MAX_SAFE_INTEGER) return [];
    return Array.from({ length: count }, (_v, i) => f(i));
  }
  const concat = (...args) => (args.length ? (Array.isArray(args[0]) ? args[0].slice() : [args[0]]).concat(flatten(args.slice(1))) : []);
  const join = (array, separator = ',') => (array ? Array.prototype.join.call(array, separator) : '');
  const reverse = array => (array ? array.reverse() : array);

  // --- objects ---------------------------------------------------------------------

  const keys = object => {
    if (object == null) return [];
    if (isArrayLike(object)) return entries(object).map(e => String(e[0]));
    return Object.keys(Object(object));
  };
  const keysIn = object => {
    const out = [];
    for (const k in Object(object ?? {})) out.push(k);
    return out;
  };
  // Own and inherited enumerable keys, as pick/omit read them.
  function pick(object, ...paths) {
    const out = {};
    if (object == null) return out;
    for (const path of flattenDeep(paths)) if (hasIn(object, path)) set(out, castPath(path, object), get(object, path));
    return out;
  }
  function pickBy(object, f) {
    const fn = iteratee(f);
    const out = {};
    if (object == null) return out;
    for (const k of keysIn(object)) if (fn(object[k], k)) out[k] = object[k];
    return out;
  }
  function omit(object, ...paths) {
    if (object == null) return {};
    const list = flattenDeep(paths).map(p => castPath(p, object));
    const deep = list.some(p => p.length > 1);
    const out = {};
    for (const k of keysIn(object)) out[k] = deep ? cloneDeep(object[k]) : object[k];
    for (const p of list) unset(out, p);
    return out;
  }
  const omitBy = (object, f) => {
    const fn = iteratee(f);
    return pickBy(object, (v, k) => !fn(v, k));
  };
  function mapValues(object, f) {
    const fn = iteratee(f);
    const out = {};
    for (const k of Object.keys(Object(object ?? {}))) out[k] = fn(object[k], k, object);
    return out;
  }
  function mapKeys(object, f) {
    const fn = iteratee(f);
    const out = {};
    for (const k of Object.keys(Object(object ?? {}))) out[fn(object[k], k, object)] = object[k];
    return out;
  }
  function invert(object) {
    const out = {};
    for (const k of Object.keys(Object(object ?? {}))) out[toString(object[k])] = k;
    return out;
  }
  const assign = (object, ...sources) => Object.assign(object, ...sources.filter(s => s != null));
  function defaults(object, ...sources) {
    const out = Object(object);
    for (const source of sources) {
      if (source == null) continue;
      for (const k of keysIn(source)) {
        if (out[k] === undefined || (eq(out[k], Object.prototype[k]) && !Object.prototype.hasOwnProperty.call(out, k))) out[k] = source[k];
      }
    }
    return out;
  }
  // lodash's merge: plain objects and arrays merge deeply into fresh copies; an
  // undefined source value does not overwrite; other values are assigned.
  function merge(object, ...sources) {
    const seen = new Map();
    const mergeInto = (target, source) => {
      for (const k of isArrayLike(source) && !isString(source) ? Object.keys(source) : keysIn(source)) {
        if (k === '__proto__' || (k === 'constructor' && typeof target[k] === 'function')) continue;
        const src = source[k];
        const cur = target[k];
        if (isObject(src) && (Array.isArray(src) || isPlainObject(src))) {
          if (seen.has(src)) {
            target[k] = seen.get(src);
            continue;
          }
          let next;
          if (Array.isArray(src)) next = Array.isArray(cur) ? cur : isArrayLikeObject(cur) ? Array.from(cur) : [];
          else next = isObject(cur) && typeof cur !== 'function' ? cur : {};
          seen.set(src, next);
          mergeInto(next, src);
          target[k] = next;
        } else if (src !== undefined ? !eq(cur, src) : !(k in target)) {
          target[k] = src;
        }
      }
    };
    const out = Object(object);
    for (const s of sources) if (s != null) mergeInto(out, s);
    return out;
  }

  // Deep copies of arrays, plain and class objects (prototype kept), dates, regexps,
  // maps and sets; functions and errors inside are kept as they are, and a function
  // given at the top becomes `{}`, as in lodash. Cycles are preserved.
  function cloneDeep(value) {
    const seen = new Map();
    const copy = (v, top) => {
      if (!isObject(v)) return v;
      if (seen.has(v)) return seen.get(v);
      if (typeof v === 'function' || v instanceof Error || v instanceof WeakMap) return top ? {} : v;
      let out;
      if (Array.isArray(v)) out = new Array(v.length);
      else if (isDate(v)) return new Date(v.getTime());
      else if (isRegExp(v)) {
        out = new RegExp(v.source, v.flags);
        out.lastIndex = v.lastIndex;
        return out;
      } else if (v instanceof Map) {
        out = new Map();
        seen.set(v, out);
        v.forEach((x, k) => out.set(k, copy(x)));
        return out;
      } else if (v instanceof Set) {
        out = new Set();
        seen.set(v, out);
        v.forEach(x => out.add(copy(x)));
        return out;
      } else out = Object.create(Object.getPrototypeOf(v));
      seen.set(v, out);
      for (const k of Object.keys(v)) out[k] = copy(v[k]);
      return out;
    };
    return copy(value, true);
  }
  const clone = value => {
    if (!isObject(value) || typeof value === 'function') return typeof value === 'function' ? {} : value;
    if (Array.isArray(value)) return value.slice();
    if (isDate(value)) return new Date(value.getTime());
    if (value instanceof Map) return new Map(value);
    if (value instanceof Set) return new Set(value);
    return Object.assign(Object.create(Object.getPrototypeOf(value)), value);
  };

  // Deep equality: SameValueZero for primitives, dates by time, regexps by source and
  // flags, arrays and objects by their own enumerable keys, maps and sets by content.
  const isEqual = (a, b) => equalDeep(a, b, []);
  function equalDeep(a, b, stack) {
    if (eq(a, b)) return true;
    if (!isObject(a) || !isObject(b)) return false;
    if (tag(a) !== tag(b)) return false;
    for (const [x, y] of stack) if (x === a && y === b) return true;
    const inner = [...stack, [a, b]];
    switch (tag(a)) {
      case '[object Date]':
      case '[object Number]':
      case '[object Boolean]':
        return eq(+a, +b);
      case '[object String]':
      case '[object RegExp]':
        return String(a) === String(b);
      case '[object Map]':
        return a.size === b.size && Array.from(a).every(([k, v]) => b.has(k) && equalDeep(v, b.get(k), inner));
      case '[object Set]':
        return a.size === b.size && Array.from(a).every(v => Array.from(b).some(w => equalDeep(v, w, inner)));
      case '[object Function]':
        return false;
    }
    if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => equalDeep(v, b[i], inner));
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    if (!ka.every(k => Object.prototype.hasOwnProperty.call(b, k) && equalDeep(a[k], b[k], inner))) return false;
    const ca = a.constructor;
    const cb = b.constructor;
    return ca === cb || !('constructor' in a && 'constructor' in b) || (typeof ca === 'function' && ca instanceof ca && typeof cb === 'function' && cb instanceof cb);
  }
  function isEmpty(v) {
    if (v == null) return true;
    if (isArrayLike(v) && (Array.isArray(v) || typeof v === 'string' || typeof v.splice === 'function' || tag(v) === '[object Arguments]' || ArrayBuffer.isView(v))) return !v.length;
    if (v instanceof Map || v instanceof Set) return !v.size;
    for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k)) return false;
    return true;
  }

  // --- strings ---------------------------------------------------------------------

  // Latin-1 and Latin Extended-A letters to basic Latin; combining marks removed.
  const LIGATURES = { ß: 'ss', Æ: 'Ae', æ: 'ae', Ø: 'O', ø: 'o', Þ: 'Th', þ: 'th', Ð: 'D', ð: 'd', Œ: 'Oe', œ: 'oe', Ł: 'L', ł: 'l', Đ: 'D', đ: 'd', Ħ: 'H', ħ: 'h', ı: 'i', Ĳ: 'IJ', ĳ: 'ij', ĸ: 'k', Ŀ: 'L', ŀ: 'l', ŉ: "'n", Ŋ: 'N', ŋ: 'n', Ŧ: 'T', ŧ: 't', ſ: 's' };
  function deburr(s) {
    let text = toString(s);
    if (typeof text.normalize === 'function') text = text.normalize('NFD');
    return text.replace(/[\u0300-\u036f\ufe20-\ufe2f\u20d0-\u20ff]/g, '').replace(/[ßÆæØøÞþÐðŒœŁłĐđĦħıĲĳĸĿŀŉŊŋŦŧſ]/g, c => LIGATURES[c]);
  }
  // Words: runs of letters split where case changes (`fooBar`, `XMLHttp`), and runs of
  // digits; everything else separates.
  const WORD = /\p{Lu}+(?=\p{Lu}\p{Ll})|\p{Lu}?[\p{Ll}\p{Lo}\p{Lm}]+|[\p{Lu}\p{Lt}]+|\p{Nd}+/gu;
  function words(s, pattern) {
    const text = toString(s);
    if (pattern !== undefined) return text.match(pattern) ?? [];
    return text.match(WORD) ?? [];
  }
  const compound = join => s => words(deburr(s).replace(/['\u2019]/g, '')).reduce((out, word, i) => out + join(word, i), '');
  const upperFirst = s => {
    const text = toString(s);
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : '';
  };
  const lowerFirst = s => {
    const text = toString(s);
    return text ? text.charAt(0).toLowerCase() + text.slice(1) : '';
  };
  const capitalize = s => upperFirst(toString(s).toLowerCase());
  const camelCase = compound((w, i) => (i ? capitalize(w) : w.toLowerCase()));
  const snakeCase = compound((w, i) => (i ? '_' : '') + w.toLowerCase());
  const kebabCase = compound((w, i) => (i ? '-' : '') + w.toLowerCase());
  const lowerCase = compound((w, i) => (i ? ' ' : '') + w.toLowerCase());
  const upperCase = compound((w, i) => (i ? ' ' : '') + w.toUpperCase());
  const startCase = compound((w, i) => (i ? ' ' : '') + upperFirst(w));
  const escapeRegExp = s => toString(s).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  function trimWith(s, chars, start, end) {
    const text = toString(s);
    if (chars === undefined) {
      let out = text;
      if (start) out = out.replace(/^\s+/, '');
      if (end) out = out.replace(/\s+$/, '');
      return out;
    }
    const set = Array.from(toString(chars));
    const list = Array.from(text);
    let i = 0;
    let j = list.length;
    if (start) while (i < j && set.includes(list[i])) i++;
    if (end) while (j > i && set.includes(list[j - 1])) j--;
    return list.slice(i, j).join('');
  }
  const trim = (s, chars) => trimWith(s, chars, true, true);
  const trimStart = (s, chars) => trimWith(s, chars, true, false);
  const trimEnd = (s, chars) => trimWith(s, chars, false, true);
  function padWith(length, chars) {
    const c = chars === undefined ? ' ' : toString(chars);
    if (!c || length <= 0) return '';
    return c.repeat(Math.ceil(length / c.length)).slice(0, length);
  }
  const padStart = (s, length = 0, chars) => {
    const text = toString(s);
    return padWith(toInteger(length) - text.length, chars) + text;
  };
  const padEnd = (s, length = 0, chars) => {
    const text = toString(s);
    return text + padWith(toInteger(length) - text.length, chars);
  };
  const pad = (s, length = 0, chars) => {
    const text = toString(s);
    const total = toInteger(length) - text.length;
    if (total <= 0) return text;
    const left = Math.floor(total / 2);
    return padWith(left, chars) + text + padWith(total - left, chars);
  };
  function truncate(s, options = {}) {
    const text = toString(s);
    const length = options.length === undefined ? 30 : toInteger(options.length);
    const omission = options.omission === undefined ? '...' : toString(options.omission);
    if (text.length <= length) return text;
    const end = length - omission.length;
    if (end < 1) return omission;
    let out = text.slice(0, end);
    const separator = options.separator;
    if (separator !== undefined) {
      if (isRegExp(separator)) {
        const flags = separator.flags.includes('g') ? separator.flags : separator.flags + 'g';
        const re = new RegExp(separator.source, flags);
        let cut;
        let m;
        while ((m = re.exec(out)) && m[0] !== undefined) {
          cut = m.index;
          if (!m[0].length) re.lastIndex++;
        }
        if (cut !== undefined) out = out.slice(0, cut);
      } else {
        const i = out.lastIndexOf(toString(separator));
        if (i > -1) out = out.slice(0, i);
      }
    }
    return out + omission;
  }
  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const escape = s => toString(s).replace(/[&<>"']/g, c => ESCAPES[c]);

  // --- numbers and functions --------------------------------------------------------

  const clamp = (n, lower, upper) => {
    if (upper === undefined) {
      upper = lower;
      lower = undefined;
    }
    let v = toNumber(n);
    if (v !== v) return v;
    if (upper !== undefined) v = Math.min(v, toNumber(upper) === toNumber(upper) ? toNumber(upper) : 0);
    if (lower !== undefined) v = Math.max(v, toNumber(lower) === toNumber(lower) ? toNumber(lower) : 0);
    return v;
  };
  const inRange = (n, start, end) => {
    const [s, e] = end === undefined ? [0, toFinite(start)] : [toFinite(start), toFinite(end)];
    const v = toNumber(n);
    return v >= Math.min(s, e) && v < Math.max(s, e);
  };
  // round/floor/ceil to `precision` decimal places, as lodash does (exponent shifting
  // avoids 1.005 * 100 = 100.49999...).
  const rounder = method => (n, precision = 0) => {
    const v = toNumber(n);
    const p = precision == null ? 0 : Math.min(toInteger(precision), 292);
    if (!p || !isFinite(v)) return Math[method](v);
    const [m, e = 0] = `${v}e`.split('e');
    const shifted = Math[method](`${m}e${+e + p}`);
    const [m2, e2 = 0] = `${shifted}e`.split('e');
    return +`${m2}e${+e2 - p}`;
  };
  const uniqueIds = { n: 0 };
  const once = f => {
    let done = false;
    let result;
    return (...args) => {
      if (!done) {
        done = true;
        result = f(...args);
      }
      return result;
    };
  };

  // --- the `_` function, chains ------------------------------------------------------

  const api = {
    // collections
    forEach, each: forEach, map, filter, reject, find, findLast, reduce, some, every, includes, size, groupBy, keyBy,
    countBy, partition, flatMap, sortBy, orderBy, maxBy, minBy, sumBy, meanBy, toArray,
    max: array => maxBy(array, identity),
    min: array => minBy(array, identity),
    sum: array => sumBy(array, identity),
    mean: array => meanBy(array, identity),
    sample: collection => {
      const list = toArray(collection);
      return list.length ? list[Math.floor(Math.random() * list.length)] : undefined;
    },
    shuffle: collection => {
      const list = toArray(collection);
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [list[i], list[j]] = [list[j], list[i]];
      }
      return list;
    },
    // arrays
    chunk, compact, concat, difference, differenceBy, drop, dropRight, findIndex, findLastIndex, first: head, flatten,
    flattenDeep, flattenDepth, fromPairs, head, indexOf, initial, intersection, intersectionBy, join, last, nth, range,
    reverse, tail, take, takeRight, union, unionBy, uniq, uniqBy, uniqWith, unzip, without, xor, zip, zipObject,
    zipObjectDeep,
    // objects
    assign, extend: assign, clone, cloneDeep, defaults, entries: toPairs, get, has, hasIn, invert, keys, keysIn, mapKeys,
    mapValues, merge, omit, omitBy, pick, pickBy, set, toPairs, unset, values,
    // predicates
    isArray: Array.isArray, isArrayLike, isArrayLikeObject, isBoolean, isDate, isEmpty, isEqual, isFinite: v => typeof v === 'number' && isFinite(v),
    isFunction, isInteger: v => Number.isInteger(v), isMatch, isNaN: v => isNumber(v) && v != +v, isNil, isNull: v => v === null,
    isNumber, isObject, isObjectLike, isPlainObject, isRegExp, isString, isSymbol, isUndefined: v => v === undefined,
    eq,
    // strings
    camelCase, capitalize, deburr, endsWith: (s, target, position) => toString(s).endsWith(toString(target), position), escape,
    escapeRegExp, kebabCase, lowerCase, lowerFirst, pad, padEnd, padStart, repeat: (s, n = 1) => (toInteger(n) > 0 ? toString(s).repeat(toInteger(n)) : ''),
    replace: (s, pattern, replacement) => toString(s).replace(pattern, replacement), snakeCase,
    split: (s, separator, limit) => toString(s).split(separator, limit), startCase,
    startsWith: (s, target, position) => toString(s).startsWith(toString(target), position), toLower: s => toString(s).toLowerCase(),
    toUpper: s => toString(s).toUpperCase(), trim, trimEnd, trimStart, truncate, upperCase, upperFirst, words,
    // numbers
    ceil: rounder('ceil'), clamp, floor: rounder('floor'), inRange, round: rounder('round'), toFinite, toInteger, toNumber, toString,
    // functions and utilities
    constant: v => () => v, identity, iteratee, matches, matchesProperty, negate: f => (...a) => !f(...a), noop: () => undefined,
    once, property, stubArray: () => [], stubObject: () => ({}), times, toPath: v => castPath(v).map(toKey),
    uniqueId: (prefix = '') => `${toString(prefix)}${++uniqueIds.n}`,
    defaultTo: (v, d) => (v == null || v !== v ? d : v),
  };

  // Methods whose results stay wrapped in an implicit `_(value)` chain, as in lodash;
  // every other method unwraps (`_([1, 2]).sum()` is 3).
  const CHAINABLE = new Set(['assign', 'chunk', 'compact', 'concat', 'countBy', 'defaults', 'difference', 'differenceBy',
    'drop', 'dropRight', 'entries', 'extend', 'filter', 'flatMap', 'flatten', 'flattenDeep', 'flattenDepth', 'fromPairs',
    'groupBy', 'initial', 'intersection', 'intersectionBy', 'invert', 'iteratee', 'keyBy', 'keys', 'keysIn', 'map',
    'mapKeys', 'mapValues', 'matches', 'matchesProperty', 'merge', 'negate', 'omit', 'omitBy', 'once', 'orderBy',
    'partition', 'pick', 'pickBy', 'property', 'range', 'reject', 'reverse', 'set', 'shuffle', 'sortBy', 'tail', 'take',
    'takeRight', 'toArray', 'toPairs', 'union', 'unionBy', 'uniq', 'uniqBy', 'uniqWith', 'unset', 'unzip', 'values',
    'without', 'xor', 'zip', 'zipObject', 'zipObjectDeep', 'constant', 'toPath']);

  function Wrapper(value, chained) {
    this.__wrapped__ = value;
    this.__chain__ = chained;
  }
  // The wrapper's methods, made on the first `_(value)` or `_.chain(value)`: most jobs
  // never chain, and making ~180 functions is a good part of loading this script.
  let wrapperMethods = false;
  function wrap(value, chained) {
    if (!wrapperMethods) {
      wrapperMethods = true;
      for (const name of Object.keys(api)) {
        Wrapper.prototype[name] = function (...args) {
          const result = api[name](this.__wrapped__, ...args);
          return this.__chain__ || CHAINABLE.has(name) ? new Wrapper(result, this.__chain__) : result;
        };
      }
    }
    return new Wrapper(value, chained);
  }
  Wrapper.prototype.value = function () {
    return this.__wrapped__;
  };
  Wrapper.prototype.valueOf = Wrapper.prototype.value;
  Wrapper.prototype.toJSON = Wrapper.prototype.value;
  Wrapper.prototype.chain = function () {
    return new Wrapper(this.__wrapped__, true);
  };
  Wrapper.prototype.tap = function (f) {
    f(this.__wrapped__);
    return this;
  };
  Wrapper.prototype.thru = function (f) {
    return new Wrapper(f(this.__wrapped__), this.__chain__);
  };

  function lodash(value) {
    return value instanceof Wrapper ? value : wrap(value, false);
  }
  Object.assign(lodash, api);
  lodash.chain = value => wrap(value instanceof Wrapper ? value.__wrapped__ : value, true);
  lodash.tap = (value, f) => (f(value), value);
  lodash.thru = (value, f) => f(value);
  lodash.VERSION = '4.17.21';
  return lodash;
});
