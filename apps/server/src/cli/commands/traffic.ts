/**
 * `gefyra traffic`: the requests of the context's bridges, from the same core as the dashboard's
 * inspector. It catches up with every bridged pod's Carrier (storing what the history lacks, unless
 * another gefyra process records these bridges already), prints the records of the bridges'
 * current sessions that match the filter, and with --follow keeps printing new ones until Ctrl-C.
 */
import fs from "node:fs";
import type { Command } from "commander";
import { compileFilter, toHar, type TrafficRecord } from "@gefyra/shared";
import { GefyraError, toGefyraError } from "../../core/errors";
import { TrafficHub, TrafficIngest, clusterSource, filterOrThrow, localConnections, queryStored, type FeedRecord, type TrafficStatus } from "../../core/traffic";
import { openStore, type Store } from "../../store";
import { productVersion } from "../../core/connection/cluster";
import { common, out, type Common } from "../main";
import { contextName } from "../session";

interface TrafficFlags extends Common {
  bridge?: string;
  filter?: string;
  follow?: boolean;
  har?: string;
  limit: string;
  dataDir?: string;
}

/** Most records a --follow run keeps for its HAR file (the newest). */
const HAR_KEEP = 10_000;

export function formatRecord(r: FeedRecord | TrafficRecord & { bridge?: string }): string {
  const time = r.time.slice(11, 23);
  const size = r.bytesIn + r.bytesOut;
  const what = r.kind === "tcp" ? `TCP ${r.client}` : `${(r.method ?? "").padEnd(6)} ${r.path ?? ""}`;
  const route = r.route ? r.route.to : "-";
  return [time, what, r.status ?? (r.error ? "ERR" : "-"), `${r.durationMs.toFixed(1)}ms`, `${size}B`, route, r.bridge || "-", r.sampled ? "sampled" : "", r.error ?? ""].join("\t").trimEnd();
}

function countsLine(status: TrafficStatus): string {
  return status.bridges
    .map((b) => {
      const c = b.counts;
      const extra = [c.sampled ? `${c.sampled} sampled` : "", c.dropped ? `${c.dropped} counted but not kept (Carrier sampled)` : "", c.missed ? `${c.missed} missed` : "", c.notStored ? `${c.notStored} not stored` : ""].filter(Boolean);
      return `${b.name}: ${c.records} record(s)${extra.length ? `, ${extra.join(", ")}` : ""}${b.recording ? "" : ` (${b.recordingMessage ?? "not recorded"})`}`;
    })
    .join("; ");
}

export function registerTrafficCommands(program: Command): void {
  common(program.command("traffic"))
    .description("requests that crossed the bridges (from every bridged pod's Carrier): filter, follow, HAR export")
    .option("--bridge <name>", "only this bridge (default: every bridge of the context)")
    .option("--filter <query>", 'filter language, e.g. "method:POST status:>=500 path:/api" (docs/traffic.md)')
    .option("--follow", "keep printing new requests until Ctrl-C")
    .option("--har <file>", "also write the requests shown as a HAR 1.2 file (with --follow: on exit)")
    .option("--limit <n>", "most stored requests to print first (newest)", "200")
    .option("--data-dir <dir>", "data directory of the history (default: $GEFYRA_DATA_DIR, then $XDG_DATA_HOME/gefyra-ts)")
    .action(async (o: TrafficFlags) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new GefyraError("INVALID_FLAG", `--limit must be a whole number from 1 to 100000, got "${o.limit}"`);
      const filter = filterOrThrow(o.filter);
      const matches = filter ? compileFilter(o.filter!) : () => true;
      const context = contextName(o);
      if (!context) throw new GefyraError("NO_CONTEXT", "no kubeconfig context: pass --kubeconfig/--context or set KUBECONFIG");

      let store: Store | undefined;
      try {
        store = await openStore(o.dataDir ? { dataDir: o.dataDir } : {});
      } catch (error) {
        process.stderr.write(`gefyra: warning: history not available, showing live records only (${toGefyraError(error).message})\n`);
      }
      const holder: { hub?: TrafficHub } = {};
      const ingest = store ? new TrafficIngest({ store, context, onRecordingGained: (b) => holder.hub?.rewind(b) }) : null;
      const source = clusterSource({ ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), context });
      // the named bridge; else the bridges of connections that run on this machine (Docker unreachable: all)
      const local = o.bridge ? null : await localConnections();
      const follows = (b: { name: string; connection: string }) => (o.bridge ? b.name === o.bridge : local === null || local.has(b.connection));
      const hub = (holder.hub = new TrafficHub({ context, source, ingest, follows }).start());
      const ac = new AbortController();
      const onSignal = () => ac.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        const deadline = Date.now() + 15_000;
        while (!hub.ready && !hub.status().error && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const listedError = hub.status().error;
        if (!hub.ready) throw new GefyraError("TRAFFIC_UNAVAILABLE", listedError ?? `the bridges of context ${context} could not be listed within 15 s: check the cluster (gefyra status)`);
        const active = hub.status().bridges.map((b) => b.name);
        if (o.bridge && !active.includes(o.bridge)) {
          const stored = store ? (await queryStored(store, { bridge: o.bridge, limit: 1 })).records.length : 0;
          if (!stored) throw new GefyraError("BRIDGE_NOT_FOUND", `no bridge named ${o.bridge} in context ${context}${active.length ? `: the bridges are ${active.join(", ")}` : ": there are no bridges"} (gefyra list)`);
          process.stderr.write(`gefyra: bridge ${o.bridge} is not active; showing its stored requests\n`);
        }
        if (!(await hub.waitCaughtUp(15_000, o.bridge))) process.stderr.write("gefyra: warning: not every bridged pod answered within 15 s; showing what arrived\n");
        await ingest?.flush();
        // another process may be the writer: give it a moment to store what it just received
        if (hub.status().bridges.some((b) => !b.recording)) await new Promise((r) => setTimeout(r, 600));

        const sessions = hub
          .status()
          .bridges.filter((b) => !o.bridge || b.name === o.bridge)
          .map((b) => b.sessionId)
          .filter((id): id is string => Boolean(id));
        let first: FeedRecord[];
        if (store && (sessions.length || (o.bridge && !active.includes(o.bridge)))) {
          const page = await queryStored(store, { ...(o.bridge && !active.includes(o.bridge) ? {} : { sessionIds: sessions }), bridge: o.bridge, filter: o.filter, limit });
          first = page.records.reverse();
        } else {
          first = hub
            .recent({ bridge: o.bridge }, 100_000)
            .filter(matches)
            .slice(-limit);
        }
        const shown: FeedRecord[] = [...first];
        const writeHar = () => {
          if (!o.har) return;
          fs.writeFileSync(o.har, `${JSON.stringify(toHar(shown, { version: productVersion() }), null, 2)}\n`);
          process.stderr.write(`gefyra: wrote ${shown.filter((r) => r.kind !== "tcp").length} request(s) to ${o.har} (HAR 1.2)\n`);
        };

        if (!o.follow) {
          out(o, first, first.length ? first.map(formatRecord).join("\n") : `no requests${o.filter ? ` matching "${o.filter}"` : ""} yet on ${o.bridge ?? (active.length ? active.join(", ") : "any bridge")}`);
          writeHar();
          process.stderr.write(`gefyra: ${countsLine(hub.status())}\n`);
          return;
        }

        for (const r of first) process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatRecord(r)}\n`);
        let lastCounts = "";
        const unsubscribe = hub.subscribe({ bridge: o.bridge, backlog: 0 }, (e) => {
          if (e.type === "records") {
            for (const r of e.records) {
              if (!matches(r)) continue;
              shown.push(r);
              if (shown.length > HAR_KEEP) shown.shift();
              process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatRecord(r)}\n`);
            }
          } else if (e.type === "status") {
            // what the feed could not deliver in full is said, never left out quietly
            const line = countsLine(e.status).replace(/\d+ record\(s\)(, )?/g, "");
            if (line !== lastCounts && /sampled|missed|not stored|not kept/.test(line)) process.stderr.write(`gefyra: ${line}\n`);
            lastCounts = line;
          }
        });
        process.stderr.write(`gefyra: following ${o.bridge ?? "every bridge"} of context ${context}; Ctrl-C to stop\n`);
        await new Promise<void>((resolve) => ac.signal.addEventListener("abort", () => resolve(), { once: true }));
        unsubscribe();
        writeHar();
        process.stderr.write(`gefyra: ${countsLine(hub.status())}\n`);
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        await hub.close();
        await store?.close().catch(() => undefined);
      }
    });
}
