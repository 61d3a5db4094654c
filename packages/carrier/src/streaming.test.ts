/**
 * 50 MB up and down through a Carrier running as its own process (the real entrypoint, config from
 * the environment), while its resident memory is sampled from /proc: bodies must stream, not buffer.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, LOOPBACK, patternChunk, request, startUpstream, TOKEN, type Upstream } from "./test-support";

const SIZE = 50 * 1024 * 1024;
const CHUNK = 64 * 1024;
/**
 * Carrier's RSS may grow by at most this much, also while 50 MiB go up and 50 MiB come down at the
 * same time (buffering the bodies would add at least 100 MiB). What growth there is (measured
 * 30-55 MiB; the same for one transfer as for two, and for 200 MiB transfers as for 50 MiB) is
 * garbage not yet collected: V8 frees socket read buffers lazily, when external memory has grown
 * by some tens of MiB.
 */
const RSS_GROWTH_LIMIT = 64 * 1024 * 1024;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

function patternStream(total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(CHUNK, total - sent);
      this.push(patternChunk(sent, n));
      sent += n;
    },
  });
}

function patternSha(total: number): string {
  const h = createHash("sha256");
  for (let off = 0; off < total; off += CHUNK) h.update(patternChunk(off, Math.min(CHUNK, total - off)));
  return h.digest("hex");
}

/** Sample `pid`'s RSS every 20 ms while `work` runs; returns the peak. */
async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = rssOf(pid);
  const t = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
  try {
    const result = await work();
    peak = Math.max(peak, rssOf(pid));
    return { result, peak };
  } finally {
    clearInterval(t);
  }
}

describe("large bodies stream through Carrier with bounded memory", () => {
  let A: Upstream;
  let child: ChildProcess;
  let port: number;
  let control: number;
  const log: string[] = [];

  beforeAll(async () => {
    A = await startUpstream("A");
    port = await freePort();
    control = await freePort();
    const main = fileURLToPath(new URL("./main.ts", import.meta.url));
    child = spawn(process.execPath, ["--import", "tsx", main], {
      env: {
        ...process.env,
        CARRIER_TOKEN: TOKEN,
        CARRIER_CONFIG_JSON: JSON.stringify({
          listen: { host: LOOPBACK, ports: [port] },
          control: { host: LOOPBACK, port: control },
          routes: { ports: [{ port, bridges: [{ name: "dev", local: A.dest }] }] },
          records: { enabled: true },
        }),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d: Buffer) => log.push(String(d)));
    child.stderr!.on("data", (d: Buffer) => log.push(String(d)));
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        if ((await request(control, { path: "/healthz" })).status === 200) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`Carrier did not start: ${log.join("")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // warm up the paths measured below
    await request(port, { method: "POST", path: "/sha", body: patternChunk(0, CHUNK) });
    await request(port, { path: `/download?bytes=${CHUNK}` });
  });

  afterAll(async () => {
    child?.kill("SIGTERM");
    await A?.close();
  });

  it("logs JSON lines without the token", () => {
    const lines = log.join("").trim().split("\n");
    const started = lines.map((l) => JSON.parse(l) as { msg: string; ports?: number[] }).find((l) => l.msg === "carrier started");
    expect(started?.ports).toEqual([port]);
    expect(log.join("")).not.toContain(TOKEN);
  });

  it("uploads 50 MB (verified by sha256 at the destination) and downloads 50 MB (verified here)", async () => {
    const pid = child.pid!;
    const before = rssOf(pid);

    const upload = () =>
      new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
        const req = http.request({ host: LOOPBACK, port, method: "POST", path: "/sha", agent: false, headers: { "content-type": "application/octet-stream" } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as { bytes: number; sha256: string }));
        });
        req.on("error", reject);
        patternStream(SIZE).pipe(req);
      });
    const download = () =>
      new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
        http
          .get({ host: LOOPBACK, port, path: `/download?bytes=${SIZE}`, agent: false }, (res) => {
            const h = createHash("sha256");
            let bytes = 0;
            res.on("data", (c: Buffer) => {
              bytes += c.length;
              h.update(c);
            });
            res.on("end", () => resolve({ bytes, sha256: h.digest("hex") }));
          })
          .on("error", reject);
      });
    const up = await peakRss(pid, upload);
    const down = await peakRss(pid, download);
    const both = await peakRss(pid, () => Promise.all([upload(), download()]));

    const expected = patternSha(SIZE);
    expect(up.result).toMatchObject({ bytes: SIZE, sha256: expected });
    expect(down.result).toEqual({ bytes: SIZE, sha256: expected });
    expect(both.result).toEqual([{ upstream: "A", bytes: SIZE, sha256: expected }, { bytes: SIZE, sha256: expected }]);
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    const growth = Math.max(up.peak, down.peak, both.peak) - before;
    console.log(
      `carrier RSS: before ${mib(before)}; peak during 50 MiB upload ${mib(up.peak)}, download ${mib(down.peak)}, both at once ${mib(both.peak)}; max growth ${mib(growth)}`,
    );
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);

    // both transfers were recorded with full byte counts and capped bodies
    const recs = (await request(control, { path: "/records?since=0", headers: { authorization: `Bearer ${TOKEN}` } })).json<{
      entries: { path: string; bytesIn: number; bytesOut: number; request: { body: { data: string; truncated: boolean } } }[];
    }>().entries;
    const uploaded = recs.find((r) => r.path === "/sha" && r.bytesIn === SIZE)!;
    expect(uploaded.request.body.truncated).toBe(true);
    expect(Buffer.from(uploaded.request.body.data, "base64").length).toBe(64 * 1024);
    expect(recs.some((r) => r.path === `/download?bytes=${SIZE}` && r.bytesOut === SIZE)).toBe(true);
  });
});
