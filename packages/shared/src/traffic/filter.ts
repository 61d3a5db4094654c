/**
 * The traffic filter language of the inspector, `gefyra traffic` and history searches:
 *
 *   method:POST status:>=500 path:/api header:x-user=me dur:>200ms -route:original "/a b"
 *
 * Terms are separated by spaces and all must hold. A `-` or `!` before a term negates it. Values
 * may be quoted ("..." or '...', backslash escapes inside). A word without a known `key:` is free
 * text, searched case-insensitively in the path and query. Comma (or `|`) separated values of
 * method, status, bridge, route and kind are alternatives. docs/traffic.md is the reference; keep
 * the two in step.
 *
 * Parsing never throws: a problem is one line naming the 1-based column, so a search box can
 * point at it.
 */
import { isErrorRecord, type TrafficRecord, type TrafficRecordKind, type TrafficRoute } from "./record";

export type Comparison = "<" | "<=" | ">" | ">=" | "=";
export type NumberTest = { op: Comparison; value: number } | { op: "range"; min: number; max: number };

/** `*` matches any run of characters; everything else is literal. */
export interface Glob {
  source: string;
  regex: RegExp;
}

interface Base {
  negate: boolean;
  /** 1-based column of the term in the filter text. */
  column: number;
}

export type FilterTerm = Base &
  (
    | { key: "text"; value: string }
    | { key: "method"; values: string[] }
    | { key: "status"; tests: NumberTest[] }
    | { key: "path"; pattern: Glob; prefix: boolean }
    | { key: "header" | "resheader"; name: string; value: Glob | null }
    | { key: "dur" | "ttfb" | "size"; test: NumberTest }
    | { key: "bridge"; values: Glob[] }
    | { key: "route"; values: TrafficRoute[] }
    | { key: "kind"; values: TrafficRecordKind[] }
    | { key: "is"; value: "error" | "sampled" | "truncated" }
  );

export interface TrafficFilter {
  text: string;
  terms: FilterTerm[];
}

export type ParseFilterResult = { ok: true; filter: TrafficFilter } | { ok: false; error: string; column: number };

export const FILTER_KEYS = ["method", "status", "path", "header", "resheader", "dur", "ttfb", "size", "bridge", "route", "kind", "is"] as const;
type FilterKey = (typeof FILTER_KEYS)[number];
const KEY_ALIASES: Record<string, FilterKey> = { duration: "dur", latency: "dur", "response-header": "resheader", reqheader: "header" };

const ROUTES: readonly TrafficRoute[] = ["local", "original", "carrier"];
const KINDS: readonly TrafficRecordKind[] = ["http", "ws", "h2", "tcp"];
const IS_VALUES = ["error", "sampled", "truncated"] as const;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const METHOD = /^[A-Za-z]+$/;

class FilterSyntaxError extends Error {
  constructor(
    readonly column: number,
    message: string,
  ) {
    super(message);
  }
}

interface Token {
  negate: boolean;
  /** Column of the token (the negation sign included). */
  column: number;
  key: string | null;
  keyColumn: number;
  value: string;
  valueColumn: number;
  /** Some of the value was quoted. */
  quoted: boolean;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);
  while (i < text.length) {
    if (isSpace(text[i])) {
      i++;
      continue;
    }
    const column = i + 1;
    let negate = false;
    if ((text[i] === "-" || text[i] === "!") && i + 1 < text.length && !isSpace(text[i + 1])) {
      negate = true;
      i++;
    } else if ((text[i] === "-" || text[i] === "!") && (i + 1 >= text.length || isSpace(text[i + 1]))) {
      throw new FilterSyntaxError(column, `'${text[i]}' must be followed by the term it negates, without a space`);
    }
    let key: string | null = null;
    const keyColumn = i + 1;
    const keyMatch = /^[A-Za-z][A-Za-z0-9_-]*:/.exec(text.slice(i));
    if (keyMatch) {
      key = keyMatch[0].slice(0, -1).toLowerCase();
      i += keyMatch[0].length;
    }
    const valueColumn = i + 1;
    let value = "";
    let quoted = false;
    while (i < text.length && !isSpace(text[i])) {
      const c = text[i]!;
      if (c === '"' || c === "'") {
        const open = i;
        i++;
        quoted = true;
        let closed = false;
        while (i < text.length) {
          const q = text[i]!;
          if (q === "\\" && i + 1 < text.length) {
            value += text[i + 1];
            i += 2;
            continue;
          }
          if (q === c) {
            closed = true;
            i++;
            break;
          }
          value += q;
          i++;
        }
        if (!closed) throw new FilterSyntaxError(open + 1, `the quote ${c} opened here is never closed`);
        continue;
      }
      value += c;
      i++;
    }
    tokens.push({ negate, column, key, keyColumn, value, valueColumn, quoted });
  }
  return tokens;
}

export function globOf(source: string, options: { prefix?: boolean; ignoreCase?: boolean } = {}): Glob {
  const body = source
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
    .join("[\\s\\S]*");
  return { source, regex: new RegExp(`^${body}${options.prefix ? "" : "$"}`, options.ignoreCase ? "i" : "") };
}

function alternatives(value: string): string[] {
  return value.split(/[,|]/);
}

const COMPARISON = /^(<=|>=|<|>|=)?(.*)$/;

function numberTest(raw: string, parse: (s: string) => number | undefined): NumberTest | undefined {
  const range = raw.split("..");
  if (range.length === 2) {
    const min = parse(range[0]!);
    const max = parse(range[1]!);
    return min !== undefined && max !== undefined && min <= max ? { op: "range", min, max } : undefined;
  }
  const m = COMPARISON.exec(raw)!;
  const value = parse(m[2]!);
  return value === undefined ? undefined : { op: (m[1] as Comparison | undefined) ?? "=", value };
}

const DURATION_UNITS: Record<string, number> = { "": 1, us: 0.001, ms: 1, s: 1000, m: 60_000, min: 60_000 };
function duration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([a-z]*)$/i.exec(s);
  const unit = m ? DURATION_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Number(m[1]) * unit : undefined;
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };
function size(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([a-z]*)$/i.exec(s);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Number(m[1]) * unit : undefined;
}

function statusTest(s: string): NumberTest | undefined {
  const cls = /^([1-5])xx$/i.exec(s);
  if (cls) {
    const base = Number(cls[1]) * 100;
    return { op: "range", min: base, max: base + 99 };
  }
  return numberTest(s, (n) => (/^\d{1,3}$/.test(n) ? Number(n) : undefined));
}

function parseTerm(t: Token): FilterTerm {
  const base: Base = { negate: t.negate, column: t.column };
  if (t.key === null) {
    if (!t.value) throw new FilterSyntaxError(t.valueColumn, "an empty quoted text matches everything: remove it");
    return { ...base, key: "text", value: t.value };
  }
  const key = (FILTER_KEYS as readonly string[]).includes(t.key) ? (t.key as FilterKey) : KEY_ALIASES[t.key];
  if (!key) {
    throw new FilterSyntaxError(t.keyColumn, `unknown filter key "${t.key}" (keys: ${FILTER_KEYS.join(", ")}); quote the word to search paths for it`);
  }
  const v = t.value;
  const bad = (what: string): never => {
    throw new FilterSyntaxError(t.valueColumn, `${key}: ${what}, got ${v ? `"${v}"` : "nothing"}`);
  };
  if (!v) bad("needs a value");
  switch (key) {
    case "method": {
      const values = alternatives(v).map((m) => (METHOD.test(m) ? m.toUpperCase() : bad("needs a method like GET or GET,POST")));
      return { ...base, key, values };
    }
    case "status": {
      const tests = alternatives(v).map((s) => statusTest(s) ?? bad("needs a status like 404, >=500, 5xx, 400..499 or 404,5xx"));
      return { ...base, key, tests };
    }
    case "path": {
      if (!v.startsWith("/") && !v.startsWith("*")) bad("needs a path starting with / (or *), like /api or /api/*/items");
      if (v.includes("?")) bad("is compared without the query string; search the query as free text instead");
      const prefix = !v.includes("*");
      return { ...base, key, prefix, pattern: globOf(v, { prefix }) };
    }
    case "header":
    case "resheader": {
      const eq = v.indexOf("=");
      const name = eq < 0 ? v : v.slice(0, eq);
      if (!HEADER_NAME.test(name)) bad("needs a header name, then optionally =VALUE (x-user or x-user=me or x-user=*me*)");
      return { ...base, key, name: name.toLowerCase(), value: eq < 0 ? null : globOf(v.slice(eq + 1)) };
    }
    case "dur":
    case "ttfb":
      return { ...base, key, test: numberTest(v, duration) ?? bad("needs a duration like >200ms, <1.5s or 100ms..2s") };
    case "size":
      return { ...base, key, test: numberTest(v, size) ?? bad("needs a size like >10kb, <1mb or 1kb..64kb (1 kb = 1024 bytes)") };
    case "bridge":
      return { ...base, key, values: alternatives(v).map((b) => (b ? globOf(b) : bad("needs a bridge name (or names separated by commas)"))) };
    case "route": {
      const values = alternatives(v).map((r) => {
        const lower = r.toLowerCase();
        return (ROUTES as readonly string[]).includes(lower) ? (lower as TrafficRoute) : bad(`must be ${ROUTES.join(", ")} (or several, comma-separated)`);
      });
      return { ...base, key, values };
    }
    case "kind": {
      const values = alternatives(v).map((k) => {
        const lower = k.toLowerCase();
        return (KINDS as readonly string[]).includes(lower) ? (lower as TrafficRecordKind) : bad(`must be ${KINDS.join(", ")} (or several, comma-separated)`);
      });
      return { ...base, key, values };
    }
    case "is": {
      const lower = v.toLowerCase();
      if (!(IS_VALUES as readonly string[]).includes(lower)) bad(`must be ${IS_VALUES.join(", ")}`);
      return { ...base, key, value: lower as (typeof IS_VALUES)[number] };
    }
  }
}

/** Parses a filter; an empty or blank text is a filter that matches every record. */
export function parseFilter(text: string): ParseFilterResult {
  try {
    return { ok: true, filter: { text, terms: tokenize(text).map(parseTerm) } };
  } catch (error) {
    if (error instanceof FilterSyntaxError) return { ok: false, column: error.column, error: `column ${error.column}: ${error.message}` };
    throw error;
  }
}

function compare(test: NumberTest, n: number): boolean {
  switch (test.op) {
    case "range":
      return n >= test.min && n <= test.max;
    case "<":
      return n < test.value;
    case "<=":
      return n <= test.value;
    case ">":
      return n > test.value;
    case ">=":
      return n >= test.value;
    case "=":
      return n === test.value;
  }
}

const withoutQuery = (path: string): string => {
  const q = path.indexOf("?");
  return q < 0 ? path : path.slice(0, q);
};

function headerHolds(headers: readonly (readonly [string, string])[] | undefined, name: string, value: Glob | null): boolean {
  return (headers ?? []).some(([n, v]) => n.toLowerCase() === name && (value === null || value.regex.test(v)));
}

function holds(term: FilterTerm, r: TrafficRecord): boolean {
  switch (term.key) {
    case "text":
      return r.path !== undefined && r.path.toLowerCase().includes(term.value.toLowerCase());
    case "method":
      return r.method !== undefined && term.values.includes(r.method.toUpperCase());
    case "status":
      return r.status !== undefined && term.tests.some((t) => compare(t, r.status!));
    case "path":
      return r.path !== undefined && term.pattern.regex.test(withoutQuery(r.path));
    case "header":
      return headerHolds(r.request?.headers, term.name, term.value);
    case "resheader":
      return headerHolds(r.response?.headers, term.name, term.value);
    case "dur":
      return compare(term.test, r.durationMs);
    case "ttfb":
      return r.ttfbMs !== null && compare(term.test, r.ttfbMs);
    case "size":
      return compare(term.test, r.bytesIn + r.bytesOut);
    case "bridge":
      return r.route?.bridge !== undefined && term.values.some((g) => g.regex.test(r.route!.bridge!));
    case "route":
      return r.route !== null && term.values.includes(r.route.to);
    case "kind":
      return term.values.includes(r.kind);
    case "is":
      if (term.value === "error") return isErrorRecord(r);
      if (term.value === "sampled") return r.sampled === true;
      return Boolean(r.request?.body.truncated || r.response?.body.truncated);
  }
}

/** Whether every term holds for the record (a negated term must not hold). */
export function matchRecord(filter: TrafficFilter, record: TrafficRecord): boolean {
  return filter.terms.every((term) => holds(term, record) !== term.negate);
}

/** Parses and returns a predicate; throws the one-line message for callers that treat a bad filter as a usage error. */
export function compileFilter(text: string): (record: TrafficRecord) => boolean {
  const parsed = parseFilter(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return (record) => matchRecord(parsed.filter, record);
}
