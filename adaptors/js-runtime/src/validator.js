// The JSON Schema validator behind language-common's `validate`, written for this
// sandbox to give what ajv 8 (with its default options) gives: `compile(schema)`
// refuses what ajv's strict mode refuses (unknown keywords, any `format`, since ajv
// ships no formats, an unresolvable `$ref`), and the compiled function returns `null`
// for valid data or ajv-shaped errors `{instancePath, schemaPath, keyword, params,
// message}`, stopping at the first failing keyword as ajv does without `allErrors`
// (composite keywords such as anyOf keep their branches' errors). Drafts: 07 (the
// default), 2019-09 and 2020-12 when `$schema` names them. Not implemented:
// `unevaluatedProperties`/`unevaluatedItems`, `$recursiveRef`, `$dynamicRef` (refused
// with an error naming them). Evaluated only when a job first calls `validate` (see
// `load` in common.js); its value is a function returning `{compile}`.
(() => {
  'use strict';

  const COMMON = ['$id', '$schema', '$ref', '$comment', 'definitions', '$defs', 'title', 'description', 'default',
    'deprecated', 'readOnly', 'writeOnly', 'examples', 'contentMediaType', 'contentEncoding', 'type', 'nullable',
    'const', 'enum', 'not', 'anyOf', 'oneOf', 'allOf', 'if', 'then', 'else', 'maximum', 'minimum', 'exclusiveMaximum',
    'exclusiveMinimum', 'multipleOf', 'maxLength', 'minLength', 'pattern', 'format', 'maxItems', 'minItems',
    'uniqueItems', 'contains', 'maxProperties', 'minProperties', 'required', 'propertyNames', 'additionalProperties',
    'dependencies', 'properties', 'patternProperties'];
  const NEXT = ['dependentRequired', 'dependentSchemas', 'maxContains', 'minContains', '$anchor', '$vocabulary', 'contentSchema'];
  const KEYWORDS = {
    draft7: new Set([...COMMON, 'items', 'additionalItems']),
    2019: new Set([...COMMON, ...NEXT, 'items', 'additionalItems', '$recursiveRef', '$recursiveAnchor', 'unevaluatedProperties', 'unevaluatedItems']),
    2020: new Set([...COMMON, ...NEXT, 'prefixItems', 'items', '$dynamicRef', '$dynamicAnchor', 'unevaluatedProperties', 'unevaluatedItems']),
  };
  const NOT_IMPLEMENTED = ['unevaluatedProperties', 'unevaluatedItems', '$recursiveRef', '$dynamicRef'];
  const META = {
    draft7: /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/,
    2019: /^https?:\/\/json-schema\.org\/draft\/2019-09\/schema#?$/,
    2020: /^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/,
  };
  const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'object', 'array'];

  // Keywords by ajv's evaluation order: the untyped group first, then those that apply
  // only to numbers, strings, arrays and objects.
  const GROUPS = [
    [null, ['$ref', 'const', 'enum', 'not', 'anyOf', 'oneOf', 'allOf', 'if']],
    ['number', ['maximum', 'minimum', 'exclusiveMaximum', 'exclusiveMinimum', 'multipleOf']],
    ['string', ['maxLength', 'minLength', 'pattern']],
    ['array', ['maxItems', 'minItems', 'additionalItems', 'prefixItems', 'items', 'contains', 'uniqueItems']],
    ['object', ['maxProperties', 'minProperties', 'required', 'dependentRequired', 'propertyNames', 'additionalProperties', 'dependencies', 'dependentSchemas', 'properties', 'patternProperties']],
  ];
  const RULES = new Set(GROUPS.flatMap(g => g[1]).concat(['type', 'then', 'else', 'format']));
  const COMPARISON = { maximum: '<=', minimum: '>=', exclusiveMaximum: '<', exclusiveMinimum: '>' };

  const pointer = key => String(key).replace(/~/g, '~0').replace(/\//g, '~1');
  const fragment = key => encodeURIComponent(pointer(key));
  const isObject = v => v !== null && typeof v === 'object' && !Array.isArray(v);

  function hasType(data, type) {
    switch (type) {
      case 'string':
      case 'boolean':
        return typeof data === type;
      case 'number':
        return typeof data === 'number';
      case 'integer':
        return typeof data === 'number' && !(data % 1) && !isNaN(data);
      case 'null':
        return data === null;
      case 'array':
        return Array.isArray(data);
      case 'object':
        return isObject(data);
    }
    return false;
  }
  // The group a value belongs to: integers are numbers.
  const groupOf = data => (typeof data === 'number' ? 'number' : typeof data === 'string' ? 'string' : Array.isArray(data) ? 'array' : isObject(data) ? 'object' : null);

  function equal(a, b) {
    if (a === b) return true;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      if (Array.isArray(a) !== Array.isArray(b)) return false;
      if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => equal(v, b[i]));
      const ka = Object.keys(a);
      return ka.length === Object.keys(b).length && ka.every(k => Object.prototype.hasOwnProperty.call(b, k) && equal(a[k], b[k]));
    }
    return a !== a && b !== b;
  }

  // A schema with no rule keywords (or `true`) accepts everything.
  const alwaysValid = schema => schema === true || (isObject(schema) && !Object.keys(schema).some(k => RULES.has(k)));
  const containsRef = schema =>
    (Array.isArray(schema) ? schema : isObject(schema) ? Object.keys(schema) : []).some(k =>
      Array.isArray(schema) ? containsRef(k) : k === '$ref' || k === '$recursiveRef' || k === '$dynamicRef' || containsRef(schema[k]));

  function compile(root) {
    const meta = isObject(root) ? root.$schema : undefined;
    let draft = 'draft7';
    if (typeof meta === 'string' && /^https?:\/\/json-schema\.org\/draft\/2019/.test(meta)) draft = '2019';
    if (typeof meta === 'string' && /^https?:\/\/json-schema\.org\/draft\/2020/.test(meta)) draft = '2020';
    if (meta !== undefined && !META[draft].test(meta)) throw new Error(`no schema with key or ref "${meta}"`);
    if (!isObject(root) && typeof root !== 'boolean') throw new Error('schema must be object or boolean');
    const known = KEYWORDS[draft];
    const rootId = isObject(root) && typeof root.$id === 'string' ? root.$id.replace(/#$/, '') : '';
    const patterns = new Map();
    const ids = new Map();

    // --- refs ---------------------------------------------------------------------

    const resolveUri = (base, ref) => {
      if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return ref;
      if (ref.startsWith('#')) return base.replace(/#.*$/, '') + ref;
      return base.replace(/[^/]*$/, '') + ref;
    };
    (function collect(schema, base) {
      if (Array.isArray(schema)) return schema.forEach(s => collect(s, base));
      if (!isObject(schema)) return;
      let here = base;
      if (typeof schema.$id === 'string') {
        here = resolveUri(base, schema.$id).replace(/#$/, '');
        ids.set(here, schema);
      }
      if (typeof schema.$anchor === 'string') ids.set(`${here}#${schema.$anchor}`, schema);
      for (const k of Object.keys(schema)) if (k !== 'enum' && k !== 'const' && k !== 'examples' && k !== 'default') collect(schema[k], here);
    })(root, rootId);

    // The schema `ref` names and the schemaPath its errors start from: the ref itself
    // when ajv inlines the target (no refs inside it), `#` when ajv compiles it apart.
    function resolveRef(ref, base) {
      const uri = resolveUri(base, ref);
      const hash = uri.indexOf('#');
      const doc = hash < 0 ? uri : uri.slice(0, hash);
      const frag = hash < 0 ? '' : uri.slice(hash + 1);
      let target = doc === '' || doc === rootId ? root : ids.get(doc);
      if (target !== undefined && frag !== '' && !frag.startsWith('/')) target = ids.get(`${doc}#${frag}`);
      if (target !== undefined && frag.startsWith('/')) {
        for (const part of frag.slice(1).split('/')) {
          const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~');
          target = target !== null && typeof target === 'object' && Object.prototype.hasOwnProperty.call(target, key) ? target[key] : undefined;
        }
      }
      if (target === undefined || (typeof target !== 'boolean' && !isObject(target))) {
        throw new Error(`can't resolve reference ${ref} from id ${base || '#'}`);
      }
      if (target === root || containsRef(target)) return { schema: target, path: '#', base: doc === '' ? rootId : doc };
      return { schema: target, path: ref, base: doc === '' ? rootId : doc };
    }

    // --- checks at compile time, as ajv's strict mode makes them ------------------------

    const checked = new Set();
    function check(schema, path, base) {
      if (typeof schema === 'boolean') return;
      if (!isObject(schema)) throw new Error(`schema is invalid: data${path.slice(1)} must be object,boolean`);
      if (checked.has(schema)) return;
      checked.add(schema);
      const here = typeof schema.$id === 'string' ? resolveUri(base, schema.$id).replace(/#$/, '') : base;
      const bad = (keyword, expected) => new Error(`schema is invalid: data${path.slice(1)}/${keyword} must be ${expected}`);
      for (const k of Object.keys(schema)) {
        if (!known.has(k)) throw new Error(`strict mode: unknown keyword: "${k}"`);
        if (NOT_IMPLEMENTED.includes(k)) throw new Error(`validate(): the JSON Schema keyword "${k}" is not supported in this sandbox (at "${path}")`);
      }
      const kinds = {
        number: ['maximum', 'minimum', 'exclusiveMaximum', 'exclusiveMinimum', 'multipleOf', 'maxLength', 'minLength', 'maxItems', 'minItems', 'maxProperties', 'minProperties', 'maxContains', 'minContains'],
        string: ['pattern', '$ref', 'format'],
        array: ['enum', 'required', 'anyOf', 'oneOf', 'allOf', 'prefixItems'],
        object: ['properties', 'patternProperties', 'dependencies', 'dependentRequired', 'dependentSchemas', 'definitions', '$defs'],
      };
      for (const [kind, list] of Object.entries(kinds)) {
        for (const k of list) {
          if (schema[k] === undefined) continue;
          const ok = kind === 'array' ? Array.isArray(schema[k]) : kind === 'object' ? isObject(schema[k]) : typeof schema[k] === kind;
          if (!ok) throw bad(k, kind);
        }
      }
      if (schema.type !== undefined) {
        const list = Array.isArray(schema.type) ? schema.type : [schema.type];
        if (!list.every(t => TYPES.includes(t))) throw bad('type', 'equal to one of the allowed values');
      }
      if (schema.format !== undefined) throw new Error(`unknown format "${schema.format}" ignored in schema at path "${path}"`);
      if (schema.pattern !== undefined) patterns.set(schema.pattern, new RegExp(schema.pattern, 'u'));
      for (const p of Object.keys(schema.patternProperties ?? {})) patterns.set(p, new RegExp(p, 'u'));
      if (schema.if !== undefined && schema.then === undefined && schema.else === undefined) throw new Error('strict mode: "if" without "then" and "else" is ignored');
      for (const k of ['then', 'else']) if (schema[k] !== undefined && schema.if === undefined) throw new Error(`strict mode: "${k}" without "if" is ignored`);
      if (schema.additionalItems !== undefined && !Array.isArray(schema.items)) throw new Error('strict mode: "additionalItems" is ignored when "items" is not an array of schemas');
      if (draft === '2020' && Array.isArray(schema.items)) throw bad('items', 'object,boolean');
      const sub = (s, p) => check(s, p, here);
      for (const k of ['not', 'if', 'then', 'else', 'contains', 'propertyNames', 'additionalProperties', 'additionalItems']) {
        if (schema[k] !== undefined) sub(schema[k], `${path}/${k}`);
      }
      if (Array.isArray(schema.items)) schema.items.forEach((s, i) => sub(s, `${path}/items/${i}`));
      else if (schema.items !== undefined) sub(schema.items, `${path}/items`);
      for (const k of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) (schema[k] ?? []).forEach((s, i) => sub(s, `${path}/${k}/${i}`));
      for (const k of ['properties', 'patternProperties', 'dependentSchemas']) {
        for (const [name, s] of Object.entries(schema[k] ?? {})) sub(s, `${path}/${k}/${fragment(name)}`);
      }
      for (const [name, s] of Object.entries(schema.dependencies ?? {})) if (!Array.isArray(s)) sub(s, `${path}/dependencies/${fragment(name)}`);
      if (schema.$ref !== undefined) {
        const target = resolveRef(schema.$ref, here);
        check(target.schema, target.path, target.base);
      }
    }
    check(root, '#', rootId);

    // --- validation ---------------------------------------------------------------------

    let errors;
    const fail = (instancePath, schemaPath, keyword, params, message, extra) => {
      errors.push({ instancePath, schemaPath, keyword, params, message, ...extra });
      return false;
    };

    // `at`: {path (instancePath), sp (schemaPath), base (for refs), name (propertyName
    // while checking property names)}.
    function validate(schema, data, at) {
      if (schema === true) return true;
      if (schema === false) return fail(at.path, at.sp, 'false schema', {}, 'boolean schema is false', at.extra);
      const base = typeof schema.$id === 'string' ? resolveUri(at.base, schema.$id).replace(/#$/, '') : at.base;
      const here = { ...at, base };
      const rules = Object.keys(schema).filter(k => RULES.has(k));
      if (schema.$ref !== undefined && rules.length === 1) return keyword(schema, '$ref', data, here);
      const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? [...schema.type] : [schema.type];
      if (schema.nullable === true && types.length && !types.includes('null')) types.push('null');
      const typeError = () => fail(at.path, `${at.sp}/type`, 'type', { type: schema.type }, `must be ${schema.type}`, at.extra);
      const inGroup = t => GROUPS.some(([g, keys]) => g === t && keys.some(k => schema[k] !== undefined));
      const typeFirst = types.length > 0 && !(types.length === 1 && inGroup(types[0]));
      if (typeFirst && !types.some(t => hasType(data, t))) return typeError();
      for (const [group, keys] of GROUPS) {
        const present = keys.filter(k => schema[k] !== undefined);
        if (group === null) {
          for (const k of present) if (!keyword(schema, k, data, here)) return false;
          continue;
        }
        if (!present.length) continue;
        if (groupOf(data) === group) {
          for (const k of present) if (!keyword(schema, k, data, here)) return false;
        } else if (!typeFirst && types.length === 1 && types[0] === group) {
          return typeError();
        }
      }
      return true;
    }

    // Runs `f` as a composite keyword's branch: its errors stay only if `keep` says so.
    function branch(f) {
      const mark = errors.length;
      const ok = f();
      return { ok, reset: () => errors.splice(mark) };
    }
    const child = (at, key, sp) => ({ ...at, path: `${at.path}/${pointer(key)}`, sp });

    function keyword(schema, k, data, at) {
      const value = schema[k];
      const sp = `${at.sp}/${k}`;
      const err = (params, message) => fail(at.path, sp, k, params, message, at.extra);
      switch (k) {
        case '$ref': {
          const target = resolveRef(value, at.base);
          return validate(target.schema, data, { ...at, sp: target.path, base: target.base });
        }
        case 'const':
          return equal(data, value) || err({ allowedValue: value }, 'must be equal to constant');
        case 'enum':
          return value.some(v => equal(data, v)) || err({ allowedValues: value }, 'must be equal to one of the allowed values');
        case 'not': {
          if (alwaysValid(value)) return err({}, 'must NOT be valid');
          const b = branch(() => validate(value, data, { ...at, sp }));
          b.reset();
          return !b.ok || err({}, 'must NOT be valid');
        }
        case 'anyOf': {
          const mark = errors.length;
          for (let i = 0; i < value.length; i++) {
            if (validate(value[i], data, { ...at, sp: `${sp}/${i}` })) {
              errors.splice(mark);
              return true;
            }
          }
          return err({}, 'must match a schema in anyOf');
        }
        case 'oneOf': {
          const mark = errors.length;
          let valid = false;
          let passing = null;
          value.forEach((s, i) => {
            const ok = alwaysValid(s) || validate(s, data, { ...at, sp: `${sp}/${i}` });
            if (i > 0 && ok && valid) {
              valid = false;
              passing = [passing, i];
            } else if (ok) {
              valid = true;
              passing = i;
            }
          });
          if (valid) {
            errors.splice(mark);
            return true;
          }
          return err({ passingSchemas: passing }, 'must match exactly one schema in oneOf');
        }
        case 'allOf':
          return value.every((s, i) => validate(s, data, { ...at, sp: `${sp}/${i}` }));
        case 'if': {
          const clauses = ['then', 'else'].filter(c => schema[c] !== undefined && !alwaysValid(schema[c]));
          if (!clauses.length) return true;
          const test = branch(() => validate(value, data, { ...at, sp }));
          test.reset();
          const clause = test.ok ? 'then' : 'else';
          if (!clauses.includes(clause)) return true;
          if (validate(schema[clause], data, { ...at, sp: `${at.sp}/${clause}` })) return true;
          return fail(at.path, sp, 'if', { failingKeyword: clause }, `must match "${clause}" schema`, at.extra);
        }
        case 'maximum':
        case 'minimum':
        case 'exclusiveMaximum':
        case 'exclusiveMinimum': {
          const ok = { maximum: data <= value, minimum: data >= value, exclusiveMaximum: data < value, exclusiveMinimum: data > value }[k];
          return (ok && !isNaN(data)) || err({ comparison: COMPARISON[k], limit: value }, `must be ${COMPARISON[k]} ${value}`);
        }
        case 'multipleOf': {
          const r = data / value;
          return !(value === 0 || r !== parseInt(r)) || err({ multipleOf: value }, `must be multiple of ${value}`);
        }
        case 'maxLength':
        case 'minLength': {
          const n = Array.from(data).length;
          const ok = k === 'maxLength' ? n <= value : n >= value;
          return ok || err({ limit: value }, `must NOT have ${k === 'maxLength' ? 'more' : 'fewer'} than ${value} characters`);
        }
        case 'pattern':
          return patterns.get(value).test(data) || err({ pattern: value }, `must match pattern "${value}"`);
        case 'maxItems':
        case 'minItems': {
          const ok = k === 'maxItems' ? data.length <= value : data.length >= value;
          return ok || err({ limit: value }, `must NOT have ${k === 'maxItems' ? 'more' : 'fewer'} than ${value} items`);
        }
        case 'maxProperties':
        case 'minProperties': {
          const n = Object.keys(data).length;
          const ok = k === 'maxProperties' ? n <= value : n >= value;
          return ok || err({ limit: value }, `must NOT have ${k === 'maxProperties' ? 'more' : 'fewer'} than ${value} properties`);
        }
        case 'required': {
          const missing = value.find(p => data[p] === undefined);
          return missing === undefined || err({ missingProperty: missing }, `must have required property '${missing}'`);
        }
        case 'dependencies':
        case 'dependentRequired':
        case 'dependentSchemas': {
          for (const [prop, dep] of Object.entries(value)) {
            if (data[prop] === undefined) continue;
            if (Array.isArray(dep)) {
              const missing = dep.find(p => data[p] === undefined);
              if (missing !== undefined) {
                const deps = dep.join(', ');
                return err({ property: prop, missingProperty: missing, depsCount: dep.length, deps }, `must have ${dep.length === 1 ? 'property' : 'properties'} ${deps} when property ${prop} is present`);
              }
            } else if (!validate(dep, data, { ...at, sp: `${sp}/${fragment(prop)}` })) {
              return false;
            }
          }
          return true;
        }
        case 'propertyNames': {
          if (alwaysValid(value)) return true;
          for (const key in data) {
            const extra = { ...at.extra, propertyName: key };
            if (!validate(value, key, { ...at, sp, extra })) return fail(at.path, sp, k, { propertyName: key }, 'property name must be valid', at.extra);
          }
          return true;
        }
        case 'additionalProperties': {
          if (alwaysValid(value)) return true;
          const named = Object.keys(schema.properties ?? {});
          const patternList = Object.keys(schema.patternProperties ?? {}).map(p => patterns.get(p));
          for (const key in data) {
            if (named.includes(key) || patternList.some(re => re.test(key))) continue;
            if (value === false) return err({ additionalProperty: key }, 'must NOT have additional properties');
            if (!validate(value, data[key], child(at, key, sp))) return false;
          }
          return true;
        }
        case 'properties': {
          for (const [prop, s] of Object.entries(value)) {
            if (alwaysValid(s) || data[prop] === undefined) continue;
            if (!validate(s, data[prop], child(at, prop, `${sp}/${fragment(prop)}`))) return false;
          }
          return true;
        }
        case 'patternProperties': {
          for (const [p, s] of Object.entries(value)) {
            if (alwaysValid(s)) continue;
            const re = patterns.get(p);
            for (const key in data) if (re.test(key) && !validate(s, data[key], child(at, key, `${sp}/${fragment(p)}`))) return false;
          }
          return true;
        }
        case 'prefixItems':
          return value.every((s, i) => i >= data.length || validate(s, data[i], child(at, i, `${sp}/${i}`)));
        case 'items': {
          if (Array.isArray(value)) return value.every((s, i) => i >= data.length || validate(s, data[i], child(at, i, `${sp}/${i}`)));
          const start = draft === '2020' ? (schema.prefixItems ?? []).length : 0;
          if (value === false && data.length > start) return err({ limit: start }, `must NOT have more than ${start} items`);
          for (let i = start; i < data.length; i++) if (!validate(value, data[i], child(at, i, sp))) return false;
          return true;
        }
        case 'additionalItems': {
          const start = schema.items.length;
          if (value === false) return data.length <= start || err({ limit: start }, `must NOT have more than ${start} items`);
          for (let i = start; i < data.length; i++) if (!validate(value, data[i], child(at, i, sp))) return false;
          return true;
        }
        case 'contains': {
          const next = draft !== 'draft7';
          const min = next && schema.minContains !== undefined ? schema.minContains : 1;
          const max = next ? schema.maxContains : undefined;
          const params = max === undefined ? { minContains: min } : { minContains: min, maxContains: max };
          const message = max === undefined ? `must contain at least ${min} valid item(s)` : `must contain at least ${min} and no more than ${max} valid item(s)`;
          if (max === undefined && min === 0) return true;
          const mark = errors.length;
          let count = 0;
          for (let i = 0; i < data.length; i++) {
            if (validate(value, data[i], child(at, i, sp))) count++;
            if (max === undefined && count >= min) break;
            if (max !== undefined && count > max) break;
          }
          if (count >= min && (max === undefined || count <= max)) {
            errors.splice(mark);
            return true;
          }
          return err(params, message);
        }
        case 'uniqueItems': {
          if (!value) return true;
          const itemTypes = isObject(schema.items) && schema.items.type !== undefined ? [].concat(schema.items.type) : [];
          const duplicate = (i, j) => err({ i, j }, `must NOT have duplicate items (items ## ${j} and ${i} are identical)`);
          if (itemTypes.length && !itemTypes.some(t => t === 'object' || t === 'array')) {
            // ajv's fast path for primitive items: a map from value to its last index.
            const seen = {};
            for (let i = data.length - 1; i >= 0; i--) {
              let item = data[i];
              if (!itemTypes.some(t => hasType(item, t))) continue;
              if (itemTypes.length > 1 && typeof item === 'string') item += '_';
              if (typeof seen[item] === 'number') return duplicate(i, seen[item]);
              seen[item] = i;
            }
            return true;
          }
          for (let i = data.length - 1; i > 0; i--) for (let j = i - 1; j >= 0; j--) if (equal(data[i], data[j])) return duplicate(i, j);
          return true;
        }
      }
      return true;
    }

    return data => {
      errors = [];
      const valid = validate(root, data, { path: '', sp: '#', base: rootId, extra: undefined });
      const found = errors;
      errors = undefined;
      return valid ? null : found;
    };
  }

  return { compile };
});
