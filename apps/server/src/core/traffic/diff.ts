/**
 * What differs between two answers to the same request (compare: the local container against the
 * original application): status, headers by name, and the body line by line — JSON bodies
 * pretty-printed first, so a changed field is one line and not the whole body.
 */
import type { TrafficBody } from "@gefyra/shared";
import type { CompareResult, DiffOp, ReplayResult } from "./types";

/** Headers that differ between any two answers (time, connection handling): shown, but not a difference. */
export const VOLATILE_HEADERS = new Set(["date", "connection", "keep-alive", "age", "expires", "last-modified", "etag", "x-request-id", "server-timing"]);
/** Most lines per side for the line diff (its table is lines × lines). */
export const MAX_DIFF_LINES = 2000;

export function bodyText(body: TrafficBody): string {
  return body.encoding === "utf8" ? body.data : `(binary, ${body.bytes} bytes; base64) ${body.data}`;
}

/** Pretty-printed JSON when the text is JSON, else undefined. */
export function prettyJson(text: string): string | undefined {
  const t = text.trim();
  if (!t || (t[0] !== "{" && t[0] !== "[")) return undefined;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return undefined;
  }
}

/** Longest-common-subsequence line diff; "-" lines are only in `a`, "+" only in `b`. */
export function diffLines(a: readonly string[], b: readonly string[]): Array<{ op: DiffOp; text: string }> {
  // common head and tail first: most answers differ in a few lines, so the table stays small
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const n = am.length;
  const m = bm.length;
  const table = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i * (m + 1) + j] = am[i] === bm[j] ? table[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(table[(i + 1) * (m + 1) + j]!, table[i * (m + 1) + j + 1]!);
    }
  }
  const out: Array<{ op: DiffOp; text: string }> = a.slice(0, head).map((text) => ({ op: "=" as const, text }));
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (am[i] === bm[j]) {
      out.push({ op: "=", text: am[i]! });
      i++;
      j++;
    } else if (table[(i + 1) * (m + 1) + j]! >= table[i * (m + 1) + j + 1]!) out.push({ op: "-", text: am[i++]! });
    else out.push({ op: "+", text: bm[j++]! });
  }
  while (i < n) out.push({ op: "-", text: am[i++]! });
  while (j < m) out.push({ op: "+", text: bm[j++]! });
  for (const text of a.slice(a.length - tail)) out.push({ op: "=", text });
  return out;
}

function headerMap(headers: ReadonlyArray<readonly [string, string]>): Map<string, string> {
  const map = new Map<string, string>();
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    map.set(name, map.has(name) ? `${map.get(name)!}, ${v}` : v);
  }
  return map;
}

/** The difference between the original's answer and the local container's. */
export function compareAnswers(local: ReplayResult, original: ReplayResult): CompareResult {
  const lh = headerMap(local.headers);
  const oh = headerMap(original.headers);
  const names = [...new Set([...oh.keys(), ...lh.keys()])].sort();
  const headers = names.map((name) => {
    const l = lh.get(name) ?? null;
    const o = oh.get(name) ?? null;
    return { name, local: l, original: o, same: l === o, volatile: VOLATILE_HEADERS.has(name) };
  });

  const lt = bodyText(local.body);
  const ot = bodyText(original.body);
  const lj = prettyJson(lt);
  const oj = prettyJson(ot);
  const json = lj !== undefined && oj !== undefined;
  const a = (json ? oj : ot).split("\n");
  const b = (json ? lj : lt).split("\n");
  let lines: Array<{ op: DiffOp; text: string }>;
  let truncated = false;
  if (a.length <= MAX_DIFF_LINES && b.length <= MAX_DIFF_LINES) lines = diffLines(a, b);
  else {
    // too long for the table: the first line that differs, with its neighbours
    truncated = true;
    let k = 0;
    while (k < a.length && k < b.length && a[k] === b[k]) k++;
    lines = [...a.slice(Math.max(0, k - 3), k).map((text) => ({ op: "=" as const, text })), ...(k < a.length ? [{ op: "-" as const, text: a[k]! }] : []), ...(k < b.length ? [{ op: "+" as const, text: b[k]! }] : [])];
  }
  const bodySame = json ? oj === lj : ot === lt && local.body.bytes === original.body.bytes;
  const status = { local: local.status, original: original.status, same: local.status === original.status };
  return {
    local,
    original,
    status,
    headers,
    body: { same: bodySame, json, lines, truncated },
    same: status.same && bodySame && headers.every((h) => h.same || h.volatile),
  };
}
