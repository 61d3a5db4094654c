import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ipOf, toHar } from "./har";
import type { TrafficRecord } from "./record";

// HAR 1.2 as the spec defines it: every field the spec does not mark optional is required here,
// with its type; custom fields must start with "_". Numbers the spec allows to be -1 ("not
// available") are checked for that, timings send/wait/receive must be non-negative.
const nameValue = z.object({ name: z.string(), value: z.string(), comment: z.string().optional() }).strict();
const custom = (shape: z.ZodRawShape) =>
  z
    .object(shape)
    .catchall(z.unknown())
    .superRefine((value, ctx) => {
      for (const key of Object.keys(value)) {
        if (!(key in shape) && !key.startsWith("_")) ctx.addIssue({ code: "custom", message: `unknown field ${key} (custom fields start with _)`, path: [key] });
      }
    });
const sizeOrUnknown = z.number().int().min(-1);
const isoDate = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
const HarSchema = z
  .object({
    log: custom({
      version: z.literal("1.2"),
      creator: custom({ name: z.string().min(1), version: z.string().min(1), comment: z.string().optional() }),
      browser: custom({ name: z.string(), version: z.string(), comment: z.string().optional() }).optional(),
      pages: z.array(z.unknown()).optional(),
      entries: z.array(
        custom({
          pageref: z.string().optional(),
          startedDateTime: isoDate,
          time: z.number().min(0),
          request: custom({
            method: z.string().min(1),
            url: z.string().regex(/^https?:\/\/[^/]+\//),
            httpVersion: z.string(),
            cookies: z.array(nameValue),
            headers: z.array(nameValue),
            queryString: z.array(nameValue),
            postData: custom({ mimeType: z.string(), params: z.array(z.unknown()).optional(), text: z.string().optional(), comment: z.string().optional() }).optional(),
            headersSize: sizeOrUnknown,
            bodySize: sizeOrUnknown,
            comment: z.string().optional(),
          }),
          response: custom({
            status: z.number().int().min(0),
            statusText: z.string(),
            httpVersion: z.string(),
            cookies: z.array(nameValue),
            headers: z.array(nameValue),
            content: custom({
              size: z.number().int().min(0),
              compression: z.number().int().optional(),
              mimeType: z.string(),
              text: z.string().optional(),
              encoding: z.string().optional(),
              comment: z.string().optional(),
            }),
            redirectURL: z.string(),
            headersSize: sizeOrUnknown,
            bodySize: sizeOrUnknown,
            comment: z.string().optional(),
          }),
          cache: custom({ beforeRequest: z.unknown().optional(), afterRequest: z.unknown().optional(), comment: z.string().optional() }),
          timings: custom({
            blocked: z.number().min(-1).optional(),
            dns: z.number().min(-1).optional(),
            connect: z.number().min(-1).optional(),
            send: z.number().min(0),
            wait: z.number().min(0),
            receive: z.number().min(0),
            ssl: z.number().min(-1).optional(),
            comment: z.string().optional(),
          }),
          serverIPAddress: z.string().optional(),
          connection: z.string().optional(),
          comment: z.string().optional(),
        }).superRefine((e, ctx) => {
          // entry.time is the sum of the timings that are not -1
          const t = e.timings as Record<string, number | undefined>;
          const sum = ["blocked", "dns", "connect", "send", "wait", "receive"].reduce((acc, k) => acc + (t[k] !== undefined && t[k] !== -1 ? t[k] : 0), 0);
          if (Math.abs(sum - (e.time as number)) > 1e-6) ctx.addIssue({ code: "custom", message: `time ${String(e.time)} is not the sum of timings ${sum}`, path: ["time"] });
        }),
      ),
      comment: z.string().optional(),
    }),
  })
  .strict();

const empty = { bytes: 0, truncated: false, encoding: "utf8" as const, data: "" };

function record(over: Partial<TrafficRecord> = {}): TrafficRecord {
  return {
    seq: 7,
    kind: "http",
    port: 8080,
    time: "2026-03-01T10:00:00.000Z",
    client: "10.244.0.7:51234",
    method: "POST",
    path: "/api/items?limit=10&q=red+shoes&flag",
    status: 201,
    ttfbMs: 12.5,
    durationMs: 20,
    bytesIn: 13,
    bytesOut: 17,
    route: { to: "local", bridge: "api-alice", rule: 'header x-user exact "alice"', destination: "192.168.213.2:8080" },
    request: {
      headers: [
        ["Host", "api.shop.svc"],
        ["Content-Type", "application/json"],
        ["Cookie", "[redacted]"],
        ["X-User", "alice"],
      ],
      body: { bytes: 13, truncated: false, encoding: "utf8", data: '{"name":"x"}\n' },
    },
    response: {
      headers: [
        ["Content-Type", "application/json; charset=utf-8"],
        ["Set-Cookie", "[redacted]"],
      ],
      body: { bytes: 17, truncated: false, encoding: "utf8", data: '{"id":1,"ok":true}'.slice(0, 17) },
    },
    ...over,
  };
}

describe("HAR export", () => {
  it("produces a valid HAR 1.2 log for every kind of record", () => {
    const records: TrafficRecord[] = [
      record(),
      record({ seq: 8, method: "GET", path: "/bin", bytesIn: 0, request: { headers: [["Host", "api"]], body: empty }, response: { headers: [["Content-Type", "image/png"]], body: { bytes: 4, truncated: false, encoding: "base64", data: "iVBORw==" } } }),
      record({ seq: 9, status: undefined, ttfbMs: null, error: "connect ECONNREFUSED 192.168.213.2:8080", response: undefined, bytesOut: 0 }),
      record({ seq: 10, kind: "h2", route: { to: "original", destination: "[fd00::5]:80" }, request: { headers: [], body: empty } }),
      record({ seq: 11, kind: "ws", method: "GET", status: 101, path: "/socket", route: { to: "carrier" }, request: undefined, response: undefined }),
      record({ seq: 12, kind: "tcp", method: undefined, path: undefined, status: undefined, request: undefined, response: undefined, route: { to: "local", bridge: "db" } }),
      record({ seq: 13, status: 302, response: { headers: [["Location", "/login"]], body: empty } }),
      record({ seq: 14, sampled: true, route: null }),
    ];
    const har = toHar(records, { version: "1.2.3" });
    const parsed = HarSchema.safeParse(har);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(har.log.creator).toEqual({ name: "gefyra-ts", version: "1.2.3" });
    expect(har.log.entries.map((e) => e._seq)).toEqual([7, 8, 9, 10, 11, 13, 14]);
    expect(har.log.comment).toBe("1 raw TCP connection(s) left out: HAR holds HTTP only");
    expect(JSON.parse(JSON.stringify(har))).toEqual(har);
  });

  it("maps request and response: url from Host, query, headers, text bodies, custom route fields", () => {
    const [e] = toHar([record()], { version: "1" }).log.entries;
    expect(e?.startedDateTime).toBe("2026-03-01T10:00:00.000Z");
    expect(e?.request).toMatchObject({
      method: "POST",
      url: "http://api.shop.svc/api/items?limit=10&q=red+shoes&flag",
      httpVersion: "HTTP/1.1",
      queryString: [
        { name: "limit", value: "10" },
        { name: "q", value: "red shoes" },
        { name: "flag", value: "" },
      ],
      postData: { mimeType: "application/json", text: '{"name":"x"}\n' },
      headersSize: -1,
      bodySize: 13,
      cookies: [],
    });
    expect(e?.request.headers).toContainEqual({ name: "X-User", value: "alice" });
    expect(e?.request.headers).toContainEqual({ name: "Cookie", value: "[redacted]" });
    expect(e?.response).toMatchObject({ status: 201, statusText: "Created", httpVersion: "HTTP/1.1", redirectURL: "", bodySize: 17 });
    expect(e?.response.content).toEqual({ size: 17, mimeType: "application/json; charset=utf-8", text: '{"id":1,"ok":true}'.slice(0, 17) });
    expect(e).toMatchObject({ _route: "local", _bridge: "api-alice", _rule: 'header x-user exact "alice"', _kind: "http", _client: "10.244.0.7:51234", serverIPAddress: "192.168.213.2" });
  });

  it("timings: wait is the time to the first byte, receive the rest; no answer means all wait", () => {
    const [a, b, c] = toHar([record(), record({ ttfbMs: null, durationMs: 30 }), record({ ttfbMs: 50, durationMs: 40 })], { version: "1" }).log.entries;
    expect(a?.timings).toEqual({ send: 0, wait: 12.5, receive: 7.5 });
    expect(a?.time).toBe(20);
    expect(b?.timings).toEqual({ send: 0, wait: 30, receive: 0 });
    expect(c?.timings).toEqual({ send: 0, wait: 40, receive: 0 });
  });

  it("binary bodies are base64 (content.encoding; _encoding on requests); truncated bodies say so", () => {
    const har = toHar(
      [
        record({
          request: { headers: [["Content-Type", "application/octet-stream"]], body: { bytes: 3, truncated: false, encoding: "base64", data: "AAEC" } },
          response: { headers: [["Content-Type", "image/png"]], body: { bytes: 100_000, truncated: true, encoding: "base64", data: "iVBORw0K" } },
        }),
        record({ request: { headers: [], body: { bytes: 70_000, truncated: true, encoding: "utf8", data: "abc" } } }),
      ],
      { version: "1" },
    );
    const [bin, cut] = har.log.entries;
    expect(bin?.request.postData).toEqual({ mimeType: "application/octet-stream", text: "AAEC", _encoding: "base64" });
    expect(bin?.response.content).toEqual({ size: 100_000, mimeType: "image/png", text: "iVBORw0K", encoding: "base64", _truncated: true, comment: "first 6 of 100000 bytes kept" });
    expect(cut?.request.postData).toMatchObject({ text: "abc", _truncated: true, mimeType: "application/octet-stream" });
    expect(cut?.comment).toBe("request body: first 3 of 70000 bytes kept");
  });

  it("a failed request has status 0, the error, and no content text", () => {
    const [e] = toHar([record({ status: undefined, error: "upstream reset", response: undefined, bytesOut: 0, ttfbMs: null })], { version: "1" }).log.entries;
    expect(e?.response).toMatchObject({ status: 0, statusText: "", httpVersion: "", _error: "upstream reset", content: { size: 0, mimeType: "x-unknown" } });
    expect(e?.response.content.text).toBeUndefined();
  });

  it("url falls back to the Carrier port or a given base; serverIPAddress only for IPs", () => {
    const noHost = record({ request: { headers: [], body: empty }, path: "/x" });
    expect(toHar([noHost], { version: "1" }).log.entries[0]?.request.url).toBe("http://carrier:8080/x");
    expect(toHar([noHost], { version: "1", baseUrl: "https://api.example.test/" }).log.entries[0]?.request.url).toBe("https://api.example.test/x");
    expect(toHar([record({ route: { to: "original", destination: "api-shadow.shop:80" } })], { version: "1" }).log.entries[0]?.serverIPAddress).toBeUndefined();
    expect(ipOf("10.0.0.1:80")).toBe("10.0.0.1");
    expect(ipOf("10.0.0.1")).toBe("10.0.0.1");
    expect(ipOf("[fd00::1]:8080")).toBe("fd00::1");
    expect(ipOf("host:80")).toBeUndefined();
    expect(ipOf(undefined)).toBeUndefined();
  });

  it("an HTTP/2 stream says HTTP/2; a redirect carries its Location", () => {
    const [h2, redirect] = toHar([record({ kind: "h2" }), record({ status: 307, response: { headers: [["location", "https://x.test/next"]], body: empty } })], { version: "1" }).log.entries;
    expect(h2?.request.httpVersion).toBe("HTTP/2");
    expect(h2?.response.httpVersion).toBe("HTTP/2");
    expect(redirect?.response).toMatchObject({ status: 307, statusText: "Temporary Redirect", redirectURL: "https://x.test/next" });
  });

  it("an empty list is a valid, empty log", () => {
    const har = toHar([], { version: "0.1.0" });
    expect(HarSchema.safeParse(har).success).toBe(true);
    expect(har.log.entries).toEqual([]);
  });

  it("the schema catches what HAR forbids (so the checks above mean something)", () => {
    const har = toHar([record()], { version: "1" });
    type Entry = Record<string, unknown> & { timings: Record<string, number> };
    const issue = (breakIt: (e: Entry) => void) => {
      const broken = JSON.parse(JSON.stringify(har)) as { log: { entries: Entry[] } };
      breakIt(broken.log.entries[0]!);
      return HarSchema.safeParse(broken).error?.issues.map((i) => i.path.join("."));
    };
    expect(issue((e) => (e.timings.wait = -1))).toContain("log.entries.0.timings.wait");
    expect(issue((e) => (e.route = "local"))).toContain("log.entries.0.route");
    expect(issue((e) => delete e.cache)).toContain("log.entries.0.cache");
    expect(issue((e) => (e.time = 99))).toContain("log.entries.0.time");
    expect(issue(() => undefined)).toBeUndefined();
  });
});
