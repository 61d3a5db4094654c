/**
 * HAR 1.2 export of request records (http://www.softwareishard.com/blog/har-12-spec/), for
 * browsers' devtools, proxies and HAR viewers. Raw TCP connections are not HTTP and are left out
 * (the log's comment counts them); a WebSocket appears as its upgrade request.
 *
 * Carrier keeps at most the first bytes of each body and redacts secret headers (decision 0012):
 * a HAR made from records holds exactly that, with `_truncated` on cut bodies. Fields HAR does not
 * define start with `_` as the spec asks: `_route`, `_bridge`, `_rule`, `_seq`, `_kind`,
 * `_client`, `_error`, `_sampled`.
 */
import type { TrafficBody, TrafficMessage, TrafficRecord } from "./record";

export interface HarNameValue {
  name: string;
  value: string;
}

export interface HarPostData {
  mimeType: string;
  text: string;
  params?: HarNameValue[];
  /** "base64" when the body was not text (HAR defines no encoding for requests). */
  _encoding?: "base64";
  _truncated?: true;
}

export interface HarRequest {
  method: string;
  url: string;
  httpVersion: string;
  cookies: HarNameValue[];
  headers: HarNameValue[];
  queryString: HarNameValue[];
  postData?: HarPostData;
  headersSize: number;
  bodySize: number;
}

export interface HarContent {
  size: number;
  mimeType: string;
  text?: string;
  encoding?: "base64";
  comment?: string;
  _truncated?: true;
}

export interface HarResponse {
  status: number;
  statusText: string;
  httpVersion: string;
  cookies: HarNameValue[];
  headers: HarNameValue[];
  content: HarContent;
  redirectURL: string;
  headersSize: number;
  bodySize: number;
  _error?: string;
}

export interface HarTimings {
  blocked?: number;
  dns?: number;
  connect?: number;
  ssl?: number;
  send: number;
  wait: number;
  receive: number;
}

export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: HarRequest;
  response: HarResponse;
  cache: Record<string, never>;
  timings: HarTimings;
  serverIPAddress?: string;
  comment?: string;
  _seq: number;
  _kind: TrafficRecord["kind"];
  _client: string;
  _route: "local" | "original" | "carrier" | null;
  _bridge?: string;
  _rule?: string;
  _sampled?: true;
}

export interface HarLog {
  log: {
    version: "1.2";
    creator: { name: string; version: string };
    pages: [];
    entries: HarEntry[];
    comment?: string;
  };
}

export interface HarOptions {
  /** The product version for `creator.version`. */
  version: string;
  /** Scheme and authority for records without a Host header. Default http://<client's Host> or http://carrier:<port>. */
  baseUrl?: string;
}

const STATUS_TEXT: Record<number, string> = {
  100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
  301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
  408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
  415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
  502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
};

const HTTP_VERSION: Record<TrafficRecord["kind"], string> = { http: "HTTP/1.1", ws: "HTTP/1.1", h2: "HTTP/2", tcp: "" };

function header(message: TrafficMessage | undefined, name: string): string | undefined {
  return message?.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

function headers(message: TrafficMessage | undefined): HarNameValue[] {
  return (message?.headers ?? []).map(([name, value]) => ({ name, value }));
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

function queryString(path: string): HarNameValue[] {
  const q = path.indexOf("?");
  if (q < 0) return [];
  return path
    .slice(q + 1)
    .split("&")
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq < 0 ? { name: decode(pair), value: "" } : { name: decode(pair.slice(0, eq)), value: decode(pair.slice(eq + 1)) };
    });
}

/** The IP part of host:port (IPv6 in brackets), or undefined when the host is a name. */
export function ipOf(destination: string | undefined): string | undefined {
  if (!destination) return undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::\d+)?$/.exec(destination);
  if (v6) return v6[1];
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(destination);
  return v4?.[1];
}

function cookies(value: string | undefined): HarNameValue[] {
  // Carrier redacts Cookie values; the names alone still say which cookies were sent
  if (!value) return [];
  return value
    .split(";")
    .map((c) => c.trim())
    .filter((c) => c.includes("="))
    .map((c) => ({ name: c.slice(0, c.indexOf("=")), value: c.slice(c.indexOf("=") + 1) }));
}

const truncatedNote = (b: TrafficBody) => `first ${b.encoding === "base64" ? Math.floor((b.data.length * 3) / 4) : b.data.length} of ${b.bytes} bytes kept`;

function entry(r: TrafficRecord, options: HarOptions): HarEntry {
  const path = r.path ?? "/";
  const host = header(r.request, "host");
  const base = options.baseUrl?.replace(/\/$/, "") ?? (host ? `http://${host}` : `http://carrier:${r.port}`);
  const reqBody = r.request?.body;
  const resBody = r.response?.body;
  const mime = header(r.response, "content-type") ?? "x-unknown";
  const ttfb = r.ttfbMs ?? r.durationMs;
  const wait = Math.max(0, Math.min(ttfb, r.durationMs));
  const location = header(r.response, "location");
  const serverIPAddress = r.route?.to === "carrier" ? undefined : ipOf(r.route?.destination);
  return {
    startedDateTime: r.time,
    time: r.durationMs,
    request: {
      method: r.method ?? "GET",
      url: `${base}${path.startsWith("/") ? "" : "/"}${path}`,
      httpVersion: HTTP_VERSION[r.kind],
      cookies: cookies(header(r.request, "cookie")),
      headers: headers(r.request),
      queryString: queryString(path),
      ...(reqBody && reqBody.bytes > 0
        ? {
            postData: {
              mimeType: header(r.request, "content-type") ?? "application/octet-stream",
              text: reqBody.data,
              ...(reqBody.encoding === "base64" ? { _encoding: "base64" as const } : {}),
              ...(reqBody.truncated ? { _truncated: true as const } : {}),
            },
          }
        : {}),
      headersSize: -1,
      bodySize: r.bytesIn,
    },
    response: {
      status: r.status ?? 0,
      statusText: r.status === undefined ? "" : (STATUS_TEXT[r.status] ?? ""),
      httpVersion: r.status === undefined ? "" : HTTP_VERSION[r.kind],
      cookies: [],
      headers: headers(r.response),
      content: {
        size: resBody?.bytes ?? r.bytesOut,
        mimeType: mime,
        ...(resBody && resBody.bytes > 0 ? { text: resBody.data } : {}),
        ...(resBody?.encoding === "base64" && resBody.bytes > 0 ? { encoding: "base64" as const } : {}),
        ...(resBody?.truncated ? { _truncated: true as const, comment: truncatedNote(resBody) } : {}),
      },
      redirectURL: location ?? "",
      headersSize: -1,
      bodySize: r.bytesOut,
      ...(r.error ? { _error: r.error } : {}),
    },
    cache: {},
    timings: { send: 0, wait, receive: Math.max(0, r.durationMs - wait) },
    ...(serverIPAddress ? { serverIPAddress } : {}),
    ...(reqBody?.truncated ? { comment: `request body: ${truncatedNote(reqBody)}` } : {}),
    _seq: r.seq,
    _kind: r.kind,
    _client: r.client,
    _route: r.route?.to ?? null,
    ...(r.route?.bridge ? { _bridge: r.route.bridge } : {}),
    ...(r.route?.rule ? { _rule: r.route.rule } : {}),
    ...(r.sampled ? { _sampled: true as const } : {}),
  };
}

/** A HAR 1.2 log of the HTTP and WebSocket records, in the order given. */
export function toHar(records: readonly TrafficRecord[], options: HarOptions): HarLog {
  const http = records.filter((r) => r.kind !== "tcp");
  const skipped = records.length - http.length;
  return {
    log: {
      version: "1.2",
      creator: { name: "gefyra-ts", version: options.version },
      pages: [],
      entries: http.map((r) => entry(r, options)),
      ...(skipped ? { comment: `${skipped} raw TCP connection(s) left out: HAR holds HTTP only` } : {}),
    },
  };
}
