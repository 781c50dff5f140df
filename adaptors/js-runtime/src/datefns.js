// `dateFns`: the `format` and `parse` of date-fns 2.30 (what language-common 3.3.4
// re-exports), written for this sandbox with date-fns's semantics for the English
// locale: Unicode tokens, quoted literals, `''` for a quote, protected `YYYY`/`D`
// tokens, a RangeError for an invalid date, and `parse` returning an Invalid Date when
// the string does not match. The tokens this sandbox does not implement (week
// numbering w I Y R, local days e c i, day periods b B, extended years u; in `parse`
// also eras G, quarters Q q and days of the year D) fail with a RangeError naming
// them. Evaluated only when a job first touches `dateFns` (see `load` in common.js); its
// value is a function of common.js's internals returning `{format, parse}`, whose
// errors are AdaptorErrors, as OpenFn classifies errors thrown inside an adaptor's
// dependencies.
(common => {
  'use strict';

  const { adaptorError } = common;

  const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
  const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const UNSUPPORTED_FORMAT = 'wIYRecibBu';
  const UNSUPPORTED_PARSE = 'wIYRecibBuGQqD';

  // The same token grammar as date-fns: `Xo` ordinals, runs of one letter, `''`,
  // quoted literals (to the end when unclosed), any other single character.
  const TOKENS = /[yYQqMLwIdDecihHKkms]o|(\w)\1*|''|'(''|[^'])+('|$)|./g;
  const LONG_TOKENS = /P+p+|P+|p+|''|'(''|[^'])+('|$)|./g;
  const DATE_FORMATS = { P: 'MM/dd/yyyy', PP: 'MMM d, y', PPP: 'MMMM do, y', PPPP: 'EEEE, MMMM do, y' };
  const TIME_FORMATS = { p: 'h:mm a', pp: 'h:mm:ss a', ppp: 'h:mm:ss a z', pppp: 'h:mm:ss a zzzz' };
  const DOCS = 'see: https://github.com/date-fns/date-fns/blob/master/docs/unicodeTokens.md';

  function requireArgs(count, args) {
    if (args.length < count) {
      throw new TypeError(`${count} argument${count > 1 ? 's' : ''} required, but only ${args.length} present`);
    }
  }

  // date-fns's toDate: a Date or a number; anything else (strings included) is an
  // Invalid Date, with the warning date-fns prints for strings.
  function toDate(value) {
    if (value instanceof Date || (typeof value === 'object' && Object.prototype.toString.call(value) === '[object Date]')) {
      return new Date(value.getTime());
    }
    if (typeof value === 'number' || Object.prototype.toString.call(value) === '[object Number]') return new Date(value);
    if (typeof value === 'string' || Object.prototype.toString.call(value) === '[object String]') {
      console.warn("Starting with v2.0.0-beta.1 date-fns doesn't accept strings as date arguments. Please use `parseISO` to parse strings. See: https://github.com/date-fns/date-fns/blob/master/docs/upgradeGuide.md#string-arguments");
    }
    return new Date(NaN);
  }

  // `P`, `PP`, `p`, `Pp`, ... expanded to the English long formats.
  function expandLong(formatString) {
    return formatString
      .match(LONG_TOKENS)
      .map(t => {
        if (t[0] !== 'P' && t[0] !== 'p') return t;
        const date = t.match(/P+/)?.[0];
        const time = t.match(/p+/)?.[0];
        if (!time) return DATE_FORMATS[date] ?? DATE_FORMATS.PPPP;
        if (!date) return TIME_FORMATS[time] ?? TIME_FORMATS.pppp;
        const d = DATE_FORMATS[date] ?? DATE_FORMATS.PPPP;
        const glue = date.length > 2 ? " 'at' " : ', ';
        return d + glue + (TIME_FORMATS[time] ?? TIME_FORMATS.pppp);
      })
      .join('');
  }

  const unquote = token => (token === "''" ? "'" : token.match(/^'([^]*?)'?$/)[1].replace(/''/g, "'"));

  // date-fns refuses `YYYY`, `YY`, `D` and `DD` unless asked for them: they are
  // usually typos of `yyyy` and `d`.
  function protect(token, formatString, input, options) {
    const instead = { YYYY: ['yyyy', 'years'], YY: ['yy', 'years'], D: ['d', 'days of the month'], DD: ['dd', 'days of the month'] }[token];
    const allowed = token[0] === 'Y' ? options?.useAdditionalWeekYearTokens : options?.useAdditionalDayOfYearTokens;
    if (instead && !allowed) {
      throw new RangeError(`Use \`${instead[0]}\` instead of \`${token}\` (in \`${formatString}\`) for formatting ${instead[1]} to the input \`${input}\`; ${DOCS}`);
    }
  }

  function unsupported(token) {
    return new RangeError(`The date-fns token \`${token}\` is not supported in this sandbox (week-numbering and local-day tokens are not implemented); see docs/javascript-jobs.md`);
  }

  // --- format ----------------------------------------------------------------------

  const pad = (n, length) => `${n < 0 ? '-' : ''}${String(Math.abs(n)).padStart(length, '0')}`;

  function ordinal(n) {
    const r100 = n % 100;
    if (r100 > 20 || r100 < 10) {
      if (r100 % 10 === 1) return `${n}st`;
      if (r100 % 10 === 2) return `${n}nd`;
      if (r100 % 10 === 3) return `${n}rd`;
    }
    return `${n}th`;
  }

  // A number token: `X` plain, `XX…` zero-padded to the token's length, `Xo` ordinal.
  const numeric = (token, n) => (token.endsWith('o') && token.length === 2 ? ordinal(n) : pad(n, token.length));

  function offsetText(date, token) {
    const minutes = -date.getTimezoneOffset();
    const sign = minutes < 0 ? '-' : '+';
    const h = Math.floor(Math.abs(minutes) / 60);
    const m = Math.abs(minutes) % 60;
    const hh = String(h).padStart(2, '0');
    const mm = String(m).padStart(2, '0');
    const letter = token[0];
    if ((letter === 'O' || letter === 'z') && token.length < 4) return `GMT${sign}${h}${m ? ':' + mm : ''}`;
    if (letter === 'O' || letter === 'z') return `GMT${sign}${hh}:${mm}`;
    if (letter === 'X' && minutes === 0) return 'Z';
    if (token.length === 1) return m ? `${sign}${hh}${mm}` : `${sign}${hh}`;
    if (token.length === 2 || token.length === 4) return `${sign}${hh}${mm}`;
    return `${sign}${hh}:${mm}`;
  }

  function dayOfYear(date) {
    const start = new Date(date.getTime());
    start.setFullYear(date.getFullYear(), 0, 1);
    start.setHours(0, 0, 0, 0);
    const day = new Date(date.getTime());
    day.setHours(0, 0, 0, 0);
    return Math.round((day - start) / 86400000) + 1;
  }

  function formatToken(date, token) {
    const l = token.length;
    const hours = date.getHours();
    switch (token[0]) {
      case 'G': {
        const ad = date.getFullYear() > 0;
        if (l <= 3) return ad ? 'AD' : 'BC';
        if (l === 5) return ad ? 'A' : 'B';
        return ad ? 'Anno Domini' : 'Before Christ';
      }
      case 'y': {
        const full = date.getFullYear();
        const year = full > 0 ? full : 1 - full;
        if (token === 'yo') return ordinal(year);
        return pad(token === 'yy' ? year % 100 : year, l);
      }
      case 'Q':
      case 'q': {
        const q = Math.ceil((date.getMonth() + 1) / 3);
        if (l <= 2) return numeric(token, q);
        if (l === 3) return `Q${q}`;
        if (l === 5) return String(q);
        return `${ordinal(q)} quarter`;
      }
      case 'M':
      case 'L': {
        const month = date.getMonth();
        if (l <= 2) return numeric(token, month + 1);
        if (l === 3) return MONTHS[month].slice(0, 3);
        if (l === 5) return MONTHS[month][0];
        return MONTHS[month];
      }
      case 'd':
        return numeric(token, date.getDate());
      case 'D':
        return numeric(token, dayOfYear(date));
      case 'E': {
        const day = DAYS[date.getDay()];
        if (l <= 3) return day.slice(0, 3);
        if (l === 5) return day[0];
        if (l === 6) return day.slice(0, 2);
        return day;
      }
      case 'a': {
        const pm = hours >= 12;
        if (l <= 2) return pm ? 'PM' : 'AM';
        if (l === 3) return pm ? 'pm' : 'am';
        if (l === 5) return pm ? 'p' : 'a';
        return pm ? 'p.m.' : 'a.m.';
      }
      case 'h':
        return numeric(token, hours % 12 || 12);
      case 'H':
        return numeric(token, hours);
      case 'K':
        return numeric(token, hours % 12);
      case 'k':
        return numeric(token, hours || 24);
      case 'm':
        return numeric(token, date.getMinutes());
      case 's':
        return numeric(token, date.getSeconds());
      case 'S':
        return pad(Math.floor(date.getMilliseconds() * Math.pow(10, l - 3)), l);
      case 'X':
      case 'x':
      case 'O':
      case 'z':
        return offsetText(date, token);
      case 't':
        return pad(Math.floor(date.getTime() / 1000), l);
      case 'T':
        return pad(date.getTime(), l);
    }
    return undefined;
  }

  function format(dirtyDate, formatString, options) {
    requireArgs(2, arguments);
    const text = String(formatString);
    const date = toDate(dirtyDate);
    if (isNaN(date.getTime())) throw new RangeError('Invalid time value');
    return (expandLong(text).match(TOKENS) ?? [])
      .map(token => {
        if (token === "''" || token[0] === "'") return unquote(token);
        const letter = token[0];
        if (!/[a-zA-Z]/.test(letter)) return token;
        protect(token, text, String(dirtyDate), options);
        if (UNSUPPORTED_FORMAT.includes(letter)) throw unsupported(token);
        const out = formatToken(date, token);
        if (out === undefined) throw new RangeError(`Format string contains an unescaped latin alphabet character \`${letter}\``);
        return out;
      })
      .join('');
  }

  // --- parse -----------------------------------------------------------------------

  // Each parser matches at the start of the rest of the string: [value, length] or
  // null. `set(date, value, flags)` applies it; a higher `priority` applies first, and
  // setting a unit resets the smaller ones (parse('2020', 'yyyy') is 1 January, 00:00).
  const digits = max => text => {
    const m = text.match(new RegExp(`^\\d{1,${max}}`));
    return m && [Number(m[0]), m[0].length];
  };
  const pattern = re => text => {
    const m = text.match(re);
    return m && [Number(m[0]), m[0].length];
  };
  const ordinalNumber = text => {
    const m = text.match(/^(\d+)(th|st|nd|rd)?/i);
    return m && [Number(m[1]), m[0].length];
  };
  // The first of `names` (tried longest first) that starts the text, case-insensitive.
  const named = lists => text => {
    for (const list of lists) {
      for (let i = 0; i < list.length; i++) {
        if (text.slice(0, list[i].length).toLowerCase() === list[i].toLowerCase()) return [i, list[i].length];
      }
    }
    return null;
  };
  const MONTH_SHORT = MONTHS.map(m => m.slice(0, 3));
  const DAY_WIDE = DAYS;
  const DAY_SHORT = DAYS.map(d => d.slice(0, 3));
  const DAY_TWO = DAYS.map(d => d.slice(0, 2));
  const DAY_ONE = DAYS.map(d => d[0]);
  const MONTH_ONE = MONTHS.map(m => m[0]);

  // The English day periods `a` accepts ('AM', 'p.m.', 'noon', 'in the morning', ...)
  // and the hour each sets, as date-fns reads them.
  const PERIODS = [[/^a/i, 0], [/^p/i, 12], [/^mi/i, 0], [/^no/i, 12], [/morning/i, 4], [/afternoon/i, 12], [/evening/i, 17], [/night/i, 0]];
  function dayPeriod(text, token) {
    const any = /^([ap]\.?\s?m\.?|midnight|noon|(in the|at) (morning|afternoon|evening|night))/i;
    const narrow = /^(a|p|mi|n|(in the|at) (morning|afternoon|evening|night))/i;
    const m = (token.length === 5 ? null : text.match(any)) || text.match(narrow);
    if (!m) return null;
    const period = PERIODS.find(([re]) => re.test(m[0]));
    return [period[1], m[0].length];
  }

  function twoDigitYear(value, referenceYear) {
    const isCommonEra = referenceYear > 0;
    const absYear = isCommonEra ? referenceYear : 1 - referenceYear;
    if (absYear <= 50) return value || 100;
    const rangeEnd = absYear + 50;
    const rangeEndCentury = Math.floor(rangeEnd / 100) * 100;
    const result = rangeEndCentury + value - (value >= rangeEnd % 100 ? 100 : 0);
    return isCommonEra ? result : 1 - result;
  }

  const inMonth = (date, day) => {
    const last = new Date(date.getFullYear(), date.getMonth() + 1, 0).getDate();
    return day >= 1 && day <= last;
  };

  function parser(token) {
    const l = token.length;
    const ord = l === 2 && token[1] === 'o';
    switch (token[0]) {
      case 'y':
        return {
          priority: 130,
          match: ord ? ordinalNumber : digits(token === 'y' ? 4 : l),
          valid: value => token === 'yy' || value > 0,
          set: (date, value) => {
            const year = token === 'yy' ? twoDigitYear(value, date.getFullYear()) : value;
            date.setFullYear(year, 0, 1);
            date.setHours(0, 0, 0, 0);
          },
        };
      case 'M':
      case 'L':
        return {
          priority: 110,
          match:
            l === 3
              ? named([MONTH_SHORT, MONTH_ONE])
              : l === 5
                ? named([MONTH_ONE])
                : l >= 4
                  ? named([MONTHS, MONTH_SHORT, MONTH_ONE])
                  : ord
                    ? text => {
                        const r = ordinalNumber(text);
                        return r && [r[0] - 1, r[1]];
                      }
                    : text => {
                        const r = (l === 1 ? pattern(/^(1[0-2]|0?\d)/) : digits(2))(text);
                        return r && [r[0] - 1, r[1]];
                      },
          valid: value => value >= 0 && value <= 11,
          set: (date, value) => {
            date.setMonth(value, 1);
            date.setHours(0, 0, 0, 0);
          },
        };
      case 'd':
        return {
          priority: 90,
          match: ord ? ordinalNumber : l === 1 ? pattern(/^(3[01]|[12]\d|0?[1-9])/) : digits(l),
          validDate: inMonth,
          set: (date, value) => {
            date.setDate(value);
            date.setHours(0, 0, 0, 0);
          },
        };
      case 'E':
        return {
          priority: 90,
          match: l <= 3 ? named([DAY_SHORT, DAY_TWO, DAY_ONE]) : l === 5 ? named([DAY_ONE]) : l === 6 ? named([DAY_TWO, DAY_ONE]) : named([DAY_WIDE, DAY_SHORT, DAY_TWO, DAY_ONE]),
          set: (date, value) => {
            date.setDate(date.getDate() + value - date.getDay());
            date.setHours(0, 0, 0, 0);
          },
        };
      case 'a':
        return {
          priority: 80,
          match: text => dayPeriod(text, token),
          set: (date, value) => date.setHours(value, 0, 0, 0),
        };
      case 'h':
        return {
          priority: 70,
          match: ord ? ordinalNumber : l === 1 ? pattern(/^(1[0-2]|0?\d)/) : digits(l),
          valid: value => value >= 1 && value <= 12,
          set: (date, value) => {
            const pm = date.getHours() >= 12;
            date.setHours(pm && value < 12 ? value + 12 : !pm && value === 12 ? 0 : value, 0, 0, 0);
          },
        };
      case 'H':
        return {
          priority: 70,
          match: ord ? ordinalNumber : l === 1 ? pattern(/^(2[0-3]|[0-1]?\d)/) : digits(l),
          valid: value => value >= 0 && value <= 23,
          set: (date, value) => date.setHours(value, 0, 0, 0),
        };
      case 'K':
        return {
          priority: 70,
          match: ord ? ordinalNumber : l === 1 ? pattern(/^(1[0-1]|0?\d)/) : digits(l),
          valid: value => value >= 0 && value <= 11,
          set: (date, value) => date.setHours(date.getHours() >= 12 && value < 12 ? value + 12 : value, 0, 0, 0),
        };
      case 'k':
        return {
          priority: 70,
          match: ord ? ordinalNumber : l === 1 ? pattern(/^(2[0-4]|[0-1]?\d)/) : digits(l),
          valid: value => value >= 1 && value <= 24,
          set: (date, value) => date.setHours(value <= 24 ? value % 24 : value, 0, 0, 0),
        };
      case 'm':
        return {
          priority: 60,
          match: ord ? ordinalNumber : l === 1 ? pattern(/^[0-5]?\d/) : digits(l),
          valid: value => value >= 0 && value <= 59,
          set: (date, value) => date.setMinutes(value, 0, 0),
        };
      case 's':
        return {
          priority: 50,
          match: ord ? ordinalNumber : l === 1 ? pattern(/^[0-5]?\d/) : digits(l),
          valid: value => value >= 0 && value <= 59,
          set: (date, value) => date.setSeconds(value, 0),
        };
      case 'S':
        return {
          priority: 30,
          match: text => {
            const r = digits(l)(text);
            return r && [Math.floor(r[0] * Math.pow(10, -l + 3)), r[1]];
          },
          set: (date, value) => date.setMilliseconds(value),
        };
      case 'X':
      case 'x': {
        const shapes = {
          1: /^([+-])(\d{2})(\d{2})?|^Z/,
          2: /^([+-])(\d{2})(\d{2})|^Z/,
          4: /^([+-])(\d{2})(\d{2})((\d{2}))?|^Z/,
          5: /^([+-])(\d{2}):(\d{2})(:(\d{2}))?|^Z/,
        };
        const re = shapes[l] ?? /^([+-])(\d{2}):(\d{2})|^Z/;
        return {
          priority: 10,
          match: text => {
            const m = text.match(re);
            if (!m) return null;
            if (m[0] === 'Z') return [0, 1];
            const h = Number(m[2]);
            const min = Number(m[3] || 0);
            const sec = Number(m[5] || 0);
            const sign = m[1] === '+' ? 1 : -1;
            return [sign * (h * 3600000 + min * 60000 + sec * 1000), m[0].length];
          },
          set: (date, value, flags) => {
            flags.offset = value;
          },
        };
      }
      case 't':
      case 'T':
        return {
          priority: token[0] === 't' ? 40 : 20,
          match: text => {
            const m = text.match(/^-?\d+/);
            return m && [Number(m[0]) * (token[0] === 't' ? 1000 : 1), m[0].length];
          },
          set: (date, value, flags) => {
            date.setTime(value);
            flags.timestamp = true;
          },
        };
    }
    return undefined;
  }

  function parse(dateString, formatString, referenceDate, options) {
    requireArgs(3, arguments);
    let rest = String(dateString);
    const text = String(formatString);
    if (text === '') return rest === '' ? toDate(referenceDate) : new Date(NaN);
    const steps = [];
    for (const token of expandLong(text).match(TOKENS) ?? []) {
      const letter = token[0];
      if (/[a-zA-Z]/.test(letter)) {
        protect(token, text, String(dateString), options);
        if (UNSUPPORTED_PARSE.includes(letter)) throw unsupported(token);
        const p = parser(token);
        if (!p) throw new RangeError(`Format string contains an unescaped latin alphabet character \`${letter}\``);
        const found = p.match(rest);
        if (!found || (p.valid && !p.valid(found[0]))) return new Date(NaN);
        steps.push({ ...p, value: found[0] });
        rest = rest.slice(found[1]);
      } else {
        const literal = token === "''" || letter === "'" ? unquote(token) : token;
        if (!rest.startsWith(literal)) return new Date(NaN);
        rest = rest.slice(literal.length);
      }
    }
    if (/\S/.test(rest)) return new Date(NaN);
    const date = toDate(referenceDate);
    if (isNaN(date.getTime())) return new Date(NaN);
    // One setter per priority (the first in the format string), highest first.
    const seen = new Set();
    const ordered = steps.filter(s => !seen.has(s.priority) && seen.add(s.priority)).sort((a, b) => b.priority - a.priority);
    const flags = {};
    for (const step of ordered) {
      if (step.validDate && !step.validDate(date, step.value)) return new Date(NaN);
      step.set(date, step.value, flags);
    }
    if (flags.offset !== undefined && !flags.timestamp) {
      // The fields were read as UTC fields at that offset.
      return new Date(date.getTime() - date.getTimezoneOffset() * 60000 - flags.offset);
    }
    return date;
  }

  const asAdaptorError = f =>
    function (...args) {
      try {
        return f.apply(this, args);
      } catch (e) {
        throw adaptorError(e.message);
      }
    };
  return { format: asAdaptorError(format), parse: asAdaptorError(parse) };
});
