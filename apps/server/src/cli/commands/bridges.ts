/** `gefyra bridge | unbridge`: a workload's traffic to a local container, and back. */
import type { Command } from "commander";
import type { Match, MatchOp } from "@gefyra/shared/rules";
import { bridge, defaultBridgeName, listBridges, unbridge, type BridgeInfo, type BridgePort } from "../../core/bridge";
import { parseWorkloadRef } from "../../core/run/workload";
import { GefyraError } from "../../core/errors";
import { common, out, progress, type Common } from "../main";
import { contextName, noteOnOpenSession, recorded } from "../session";

interface BridgeFlags extends Common {
  target: string;
  namespace?: string;
  local: string;
  port: string[];
  name?: string;
  connection?: string;
  matchHeader: string[];
  matchHeaderPrefix: string[];
  matchHeaderRegex: string[];
  matchPath: string[];
  matchPathPrefix: string[];
  matchPathRegex: string[];
  timeout?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function parseBridgePort(text: string): BridgePort {
  const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(text.trim());
  const remote = Number(m?.[1]);
  const local = Number(m?.[2] ?? m?.[1]);
  if (!m || remote < 1 || remote > 65535 || local < 1 || local > 65535) {
    throw new GefyraError("PORT_INVALID", `--port ${text} is not REMOTE:LOCAL (e.g. --port 8080:8080 sends the container's port 8080 to your container's 8080)`);
  }
  return { remote, local };
}

function headerMatch(text: string, op: MatchOp, flag: string): Match {
  const at = text.indexOf("=");
  if (at <= 0) throw new GefyraError("RULE_INVALID", `${flag} ${text} is not NAME=VALUE (e.g. ${flag} x-user=alice)`);
  return { kind: "header", name: text.slice(0, at), op, value: text.slice(at + 1) };
}

export function matchesFrom(o: Pick<BridgeFlags, "matchHeader" | "matchHeaderPrefix" | "matchHeaderRegex" | "matchPath" | "matchPathPrefix" | "matchPathRegex">): Match[] {
  return [
    ...o.matchHeader.map((t) => headerMatch(t, "exact", "--match-header")),
    ...o.matchHeaderPrefix.map((t) => headerMatch(t, "prefix", "--match-header-prefix")),
    ...o.matchHeaderRegex.map((t) => headerMatch(t, "regex", "--match-header-regex")),
    ...o.matchPath.map((value): Match => ({ kind: "path", op: "exact", value })),
    ...o.matchPathPrefix.map((value): Match => ({ kind: "path", op: "prefix", value })),
    ...o.matchPathRegex.map((value): Match => ({ kind: "path", op: "regex", value })),
  ];
}

export function describeBridge(b: BridgeInfo): string {
  const rule = b.match.length ? b.match.map((m) => (m.kind === "header" ? `${m.name}${m.op === "exact" ? "=" : m.op === "prefix" ? "^=" : "~="}${m.value}` : `path${m.op === "exact" ? "=" : m.op === "prefix" ? "^=" : "~="}${m.value}`)).join("&") : "all";
  const ports = b.ports.map((p) => `${p.remote}->${p.local}`).join(",");
  const ready = b.pods.filter((p) => p.ready).length;
  return `${b.name}\t${b.state}\t${b.target.kind}/${b.target.name}/${b.target.container}\t${b.namespace}\t${ports}\t${rule}\t${b.local}\t${ready}/${b.pods.length} pods`;
}

export function registerBridgeCommands(program: Command): void {
  common(program.command("bridge"))
    .description("send a workload's traffic (all of it, or requests matching rules) to a local container")
    .requiredOption("--target <workload>", "deploy/NAME[/CONTAINER], statefulset/NAME or pod/NAME")
    .option("-n, --namespace <ns>", "the target's namespace (default: the context's, else default)")
    .requiredOption("--local <name>", "local container started with gefyra run")
    .option("--port <REMOTE:LOCAL>", "container port to bridge and the local port; repeatable", collect, [])
    .option("--name <name>", "bridge name (default: LOCAL-to-TARGET)")
    .option("--connection <name>", "connection (default: user-host, as gefyra up)")
    .option("--match-header <NAME=VALUE>", "only requests with this header value; repeatable (ANDed)", collect, [])
    .option("--match-header-prefix <NAME=PREFIX>", "only requests whose header starts with PREFIX; repeatable", collect, [])
    .option("--match-header-regex <NAME=RE>", "only requests whose header matches RE (linear-time engine); repeatable", collect, [])
    .option("--match-path <PATH>", "only this exact path; repeatable", collect, [])
    .option("--match-path-prefix <PREFIX>", "only paths starting with PREFIX; repeatable", collect, [])
    .option("--match-path-regex <RE>", "only paths matching RE; repeatable", collect, [])
    .option("--timeout <seconds>", "give up after this long (default 120)")
    .action(async (o: BridgeFlags) => {
      if (o.port.length === 0) throw new GefyraError("BRIDGE_NO_PORTS", "name at least one port: --port REMOTE:LOCAL (e.g. --port 8080:8080)");
      const ports = o.port.map(parseBridgePort);
      const match = matchesFrom(o);
      const ac = new AbortController();
      const onSignal = () => ac.abort(new Error("interrupted"));
      process.once("SIGINT", onSignal);
      try {
        const info = await recorded(
          // the session is the bridge's (target = its name), as the dashboard, unbridge and the traffic recording find it
          { kind: "bridge", context: contextName(o), ...(o.namespace ? { namespace: o.namespace } : {}), target: o.name ?? defaultBridgeName(o.local, parseWorkloadRef(o.target).name) },
          () =>
            bridge(
              {
                ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
                ...(o.context ? { context: o.context } : {}),
                target: o.target,
                ...(o.namespace ? { namespace: o.namespace } : {}),
                local: o.local,
                ports,
                match,
                ...(o.name ? { name: o.name } : {}),
                ...(o.connection ? { connection: o.connection } : {}),
                ...(o.timeout ? { timeoutMs: Number(o.timeout) * 1000 } : {}),
                signal: ac.signal,
              },
              progress(o),
            ),
          (b) => ({ type: "bridge", message: `bridge ${b.name} active: ${b.target.kind}/${b.target.name} -> ${b.local} (${b.pods.length} pods)` }),
        );
        out(o, info, `bridge ${info.name} is active: ${info.match.length ? "matching requests" : "all traffic"} on ${info.target.kind}/${info.target.name} port(s) ${info.ports.map((p) => `${p.remote}->${p.local}`).join(", ")} go to ${info.local} (${info.pods.length} pod(s))`);
      } finally {
        process.off("SIGINT", onSignal);
      }
    });

  common(program.command("unbridge"))
    .description("remove a bridge (or all of a connection's) and restore the workload")
    .argument("[name]", "bridge name (see gefyra list)")
    .option("--all", "every bridge of the connection")
    .option("--connection <name>", "with --all: only this connection's bridges (default: all bridges)")
    .action(async (name: string | undefined, o: Common & { all?: boolean; connection?: string }) => {
      if (!name && !o.all) throw new GefyraError("BRIDGE_NAME_MISSING", "name the bridge to remove (see gefyra list), or pass --all");
      const r = await unbridge(
        {
          ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
          ...(o.context ? { context: o.context } : {}),
          ...(name ? { name } : {}),
          ...(o.all ? { all: true } : {}),
          ...(o.connection ? { connection: o.connection } : {}),
        },
        progress(o),
      );
      for (const b of r.removed) await noteOnOpenSession({ kind: "bridge", context: contextName(o), target: b }, "unbridge", `bridge ${b} removed`, "unbridged");
      out(o, r, r.removed.length ? `removed ${r.removed.join(", ")}; the workloads are restored` : "no bridges to remove");
    });
}

/** Bridges for `gefyra list`; undefined (with the reason) when the cluster cannot be asked. */
export async function bridgesForList(o: Common & { connection?: string }): Promise<{ bridges: BridgeInfo[]; error?: string }> {
  try {
    return {
      bridges: await listBridges({
        ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
        ...(o.context ? { context: o.context } : {}),
        ...(o.connection ? { connection: o.connection } : {}),
      }),
    };
  } catch (e) {
    return { bridges: [], error: e instanceof Error ? e.message : String(e) };
  }
}
