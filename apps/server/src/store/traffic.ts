/**
 * Stored request records as the inspector's TrafficRecord, so the filter language and the HAR
 * export (@gefyra/shared) work on history the same way as on live records.
 */
import type { TrafficBody, TrafficRecord } from "@gefyra/shared";
import type { RequestRecord } from "./generated/client";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A body cut at the capture cap holds fewer bytes than passed (`whole`); text stays text, anything else is base64. */
function body(bytes: Uint8Array | null, whole: number): TrafficBody {
  const held = bytes?.byteLength ?? 0;
  const truncated = held < whole;
  if (!bytes || held === 0) return { bytes: whole, truncated, encoding: "utf8", data: "" };
  try {
    return { bytes: whole, truncated, encoding: "utf8", data: strictUtf8.decode(bytes) };
  } catch {
    // a cut may split a multi-byte character: text when at most 3 trailing bytes are off
    for (let cut = 1; truncated && cut <= 3 && cut < held; cut++) {
      try {
        return { bytes: whole, truncated, encoding: "utf8", data: strictUtf8.decode(bytes.subarray(0, held - cut)) };
      } catch {
        // try a shorter cut
      }
    }
    return { bytes: whole, truncated, encoding: "base64", data: Buffer.from(bytes).toString("base64") };
  }
}

/** Headers were stored as pairs (wire order) or, by older writers, as a name → value(s) map. */
function headers(json: string | null): [string, string][] {
  if (!json) return [];
  try {
    const value = JSON.parse(json) as unknown;
    if (Array.isArray(value)) return value.filter((p): p is [string, string] => Array.isArray(p) && typeof p[0] === "string" && typeof p[1] === "string");
    if (value && typeof value === "object") {
      return Object.entries(value as Record<string, unknown>).flatMap(([name, v]) => (Array.isArray(v) ? v.map((x) => [name, String(x)] as [string, string]) : [[name, String(v)] as [string, string]]));
    }
  } catch {
    // a damaged header column shows as no headers rather than failing the whole list
  }
  return [];
}

const ROUTE: Record<string, "local" | "original" | "carrier"> = { local: "local", original: "original", carrier: "carrier", cluster: "original" };

export function toTrafficRecord(row: RequestRecord): TrafficRecord {
  const kind = (["http", "ws", "h2", "tcp"] as const).find((k) => k === row.kind) ?? (row.route === "tcp" ? "tcp" : "http");
  const to = ROUTE[row.route];
  return {
    seq: row.seq,
    kind,
    port: row.port ?? 0,
    time: row.at.toISOString(),
    client: row.client ?? "",
    ...(kind === "tcp" ? {} : { method: row.method, path: row.path }),
    ...(row.status === null ? {} : { status: row.status }),
    ttfbMs: row.ttfbMs,
    durationMs: row.durationMs ?? 0,
    bytesIn: row.bytesIn,
    bytesOut: row.bytesOut,
    route: to ? { to, bridge: row.bridge, ...(row.rule ? { rule: row.rule } : {}), ...(row.destination ? { destination: row.destination } : {}) } : null,
    ...(row.error ? { error: row.error } : {}),
    ...(kind === "tcp"
      ? {}
      : {
          request: { headers: headers(row.requestHeaders), body: body(row.requestBody, row.bytesIn) },
          response: { headers: headers(row.responseHeaders), body: body(row.responseBody, row.bytesOut) },
        }),
    ...(row.sampled ? { sampled: true as const } : {}),
  };
}
