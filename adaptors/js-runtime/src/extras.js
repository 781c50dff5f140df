// The parts of language-common 3.3.4's job API that few jobs use, evaluated on a job's
// first use of one of them (see `later` in common.js): `validate`, `beta.each`,
// `parseCsv` and the rarer `util` helpers. The value is a function of common.js's
// internals.
common => {
  'use strict';

  const { adaptorError, asData, composeNextState, load, query, resolve, show, write, N } = common;

  // Compiled schemas by `$id` (or 'schema' for a schema without one) for the whole
  // job, as language-common caches them: a second schema without `$id` reuses the
  // first.
  const schemaCache = {};

  // validate(schema = 'schema', data = 'data'): both resolved (functions of state, then
  // a string is a JSONPath into state); a failure pushes {data: state.data, errors}
  // with ajv's errors to state.validationErrors, which exists afterwards either way.
  function validate(schema = 'schema', data = 'data') {
    return state => {
      if (!state.validationErrors) state.validationErrors = [];
      const [dataOrPath] = resolve(state, data);
      const value = typeof dataOrPath === 'string' ? query(dataOrPath, state)[0] : dataOrPath;
      const [schemaOrPath] = resolve(state, schema);
      let resolved = schemaOrPath;
      if (typeof schemaOrPath === 'string') {
        if (/^[a-z][a-z0-9+.-]*:/i.test(schemaOrPath)) {
          throw adaptorError(`validate() cannot fetch the schema at ${schemaOrPath}: the sandbox has no network of its own; put the schema in state or pass it as an object`);
        }
        resolved = query(schemaOrPath, state)[0];
      }
      if (resolved === null || (typeof resolved !== 'object' && typeof resolved !== 'boolean')) {
        throw adaptorError(`validate() found no JSON schema at ${show(schemaOrPath)} (got ${show(resolved)})`);
      }
      const id = resolved.$id || 'schema';
      if (!schemaCache[id]) {
        try {
          schemaCache[id] = load('validator').compile(resolved);
        } catch (e) {
          throw adaptorError(e.message);
        }
      }
      const errors = schemaCache[id](value);
      if (errors) state.validationErrors.push({ data: state.data, errors });
      return state;
    };
  }

  // beta.each: `each`, then the original `data` restored (other changes, `index`
  // included, are kept).
  function betaEach(dataSource, operation) {
    if (!dataSource) throw new TypeError('dataSource argument for each operation is invalid.');
    return async state => {
      const items = asData(dataSource, state);
      if (!Array.isArray(items)) {
        throw adaptorError(`beta.each() expects an array of items, got ${show(items)}`);
      }
      let current = state;
      for (let index = 0; index < items.length; index++) {
        current = await operation({ ...current, data: items[index], index });
      }
      return { ...current, data: state.data };
    };
  }

  // parseCsv(csvData, parsingOptions, callback): csv-parse's defaults as common sets
  // them (delimiter ',', quote and escape '"', columns from the first row, BOM
  // stripped, empty lines skipped); each chunk of rows goes to callback(state, rows),
  // or without one becomes the next state's data.
  function parseCsv(csvData, parsingOptions = {}, callback) {
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

  // The util helpers the sandbox cannot offer fail with an error saying why.
  const NO_NETWORK = "a job reaches servers only through its adaptor's operations (e.g. get, post, http.request)";
  const unavailable = (name, why) => () => {
    throw adaptorError(`util.${name} is not available in the sandbox: ${why}`);
  };

  return {
    validate,
    betaEach,
    parseCsv,
    makeBasicAuthHeader: (username, password) => ({ Authorization: `Basic ${N.encode(`${username}:${password}`)}` }),
    assertRelativeUrl(path) {
      if (/https?:\/\//.test(path)) {
        throw adaptorError('UNEXPECTED_ABSOLUTE_URL', {
          code: 'UNEXPECTED_ABSOLUTE_URL',
          description: 'An absolute URL was provided (https://...) but only a path (/a/b/c) is supported',
          url: path,
          fix: 'Remove the protocol, domain and origin from the provided URL. Maybe you need to use the generic HTTP helper functions instead?',
        });
      }
    },
    normalizeOauthConfig(configuration) {
      const { access_token, accessToken } = configuration;
      if (access_token && accessToken) {
        throw adaptorError('Both "accessToken" & "access_token" keys found in configuration; please use only "access_token" for OAuth2 credentials.');
      }
      if (access_token) return { ...configuration, accessToken: access_token };
      write('ADA', 'info', ['Key "access_token" not found in state.configuration;', 'is this a standard OAuth 2.0 JSON credential?']);
      if (accessToken) write('ADA', 'info', ['Using "accessToken" from state.configuration']);
      return configuration;
    },
    request: unavailable('request', NO_NETWORK),
    get: unavailable('get', NO_NETWORK),
    post: unavailable('post', NO_NETWORK),
    put: unavailable('put', NO_NETWORK),
    del: unavailable('del', NO_NETWORK),
    parseUrl: unavailable('parseUrl', 'the runtime has no URL class'),
    encodeFormBody: unavailable('encodeFormBody', 'the runtime has no FormData'),
  };
};
