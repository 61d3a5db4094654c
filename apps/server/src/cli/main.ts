/**
 * The `gefyra` CLI (commander). Every command takes --kubeconfig, --context and --json, honours
 * KUBECONFIG and DOCKER_HOST, writes progress lines to stderr and its result to stdout, and exits
 * non-zero with a one-line reason on failure.
 */
import { Command, Option } from "commander";
import { GefyraError, toGefyraError } from "../core/errors";
import { defaultConnectionName, down, install, status, uninstall, up, type ConnectionInfo, type InstallSettings } from "../core/connection";
import { registerBridgeCommands } from "./commands/bridges";
import { registerContainerCommands } from "./commands/containers";
import { registerProfileRunCommands } from "./commands/profiles-run";
import { registerStoreCommands } from "./commands/store";
import { registerTrafficCommands } from "./commands/traffic";
import { contextName, recorded } from "./session";

export interface Common {
  kubeconfig?: string;
  context?: string;
  json?: boolean;
}

interface ImageFlags {
  registry?: string;
  tag?: string;
  operatorImage?: string;
  stowawayImage?: string;
  cargoImage?: string;
  carrierImage?: string;
  tunnelSubnet?: string;
  nodePort?: string;
  serviceType?: "NodePort" | "LoadBalancer";
  mtu?: string;
}

export function common(cmd: Command): Command {
  return cmd
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: the current context)")
    .option("--json", "print the result as JSON on stdout");
}

function imageFlags(cmd: Command): Command {
  return cmd
    .option("--registry <prefix>", "image registry/prefix for every image (default gefyra-ts)")
    .option("--tag <tag>", "image tag for every image (default: the product version)")
    .option("--operator-image <ref>", "full operator image reference")
    .option("--stowaway-image <ref>", "full Stowaway image reference")
    .option("--cargo-image <ref>", "full Cargo image reference")
    .option("--carrier-image <ref>", "full Carrier image reference")
    .option("--tunnel-subnet <cidr>", "WireGuard tunnel subnet (default 192.168.213.0/24)")
    .option("--node-port <port>", "Stowaway's UDP NodePort (default 31820)")
    .addOption(new Option("--service-type <type>", "how Stowaway is exposed").choices(["NodePort", "LoadBalancer"]))
    .option("--mtu <bytes>", "tunnel MTU (default 1340)");
}

function settings(o: ImageFlags): InstallSettings {
  const overrides: Record<string, string> = {};
  if (o.operatorImage) overrides.operator = o.operatorImage;
  if (o.stowawayImage) overrides.stowaway = o.stowawayImage;
  if (o.cargoImage) overrides.cargo = o.cargoImage;
  if (o.carrierImage) overrides.carrier = o.carrierImage;
  const num = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new GefyraError("INVALID_FLAG", `${flag} must be a positive integer, got "${v}".`);
    return n;
  };
  const nodePort = num(o.nodePort, "--node-port");
  const mtu = num(o.mtu, "--mtu");
  return {
    images: { ...(o.registry ? { registry: o.registry } : {}), ...(o.tag ? { tag: o.tag } : {}), overrides },
    ...(o.tunnelSubnet ? { tunnelSubnet: o.tunnelSubnet } : {}),
    ...(nodePort ? { nodePort } : {}),
    ...(mtu ? { mtu } : {}),
    ...(o.serviceType ? { serviceType: o.serviceType } : {}),
  };
}

function cluster(o: Common) {
  return { ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) };
}

export const progress = (o: Common) => (p: { message: string }) => {
  process.stderr.write(`${o.json ? "" : "» "}${p.message}\n`);
};

export function out(o: Common, json: unknown, text: string): void {
  process.stdout.write(o.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
}

function connectionJson(info: ConnectionInfo) {
  const { dnsSearch, ...rest } = info;
  return { ...rest, dnsSearch: dnsSearch() };
}

export function buildProgram(): Command {
  const program = new Command("gefyra")
    .description("Bridge a container on your machine into a Kubernetes cluster (gefyra-ts).")
    .showHelpAfterError(false)
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride();

  imageFlags(common(program.command("up")))
    .description("connect this machine's Docker to the cluster (installs the operator and Stowaway if missing)")
    .option("--name <name>", "connection name (default: user-host)")
    .option("--client <id>", "who connects (default user@host)")
    .option("--endpoint <host:port>", "how this machine reaches Stowaway (default: API server host and the NodePort)")
    .option("--heartbeat-ttl <seconds>", "remove the connection after this long without heartbeat (default 60)")
    .action(async (o: Common & ImageFlags & { name?: string; client?: string; endpoint?: string; heartbeatTtl?: string }) => {
      const ac = new AbortController();
      const onSignal = () => ac.abort(new Error("interrupted"));
      process.once("SIGINT", onSignal);
      try {
        const info = await recorded(
          { kind: "connection", context: contextName(o), target: o.name ?? defaultConnectionName() },
          () =>
            up(
              {
                ...cluster(o),
                ...settings(o),
                ...(o.name ? { name: o.name } : {}),
                ...(o.client ? { client: o.client } : {}),
                ...(o.endpoint ? { endpoint: o.endpoint } : {}),
                ...(o.heartbeatTtl ? { heartbeatTTLSeconds: Number(o.heartbeatTtl) } : {}),
                signal: ac.signal,
              },
              progress(o),
            ),
          (i) => ({ type: "up", message: `connection ${i.name} is up: ${i.clientAddress} via ${i.endpoint} in ${Math.round(i.elapsedMs / 100) / 10} s` }),
        );
        out(
          o,
          connectionJson(info),
          `connection ${info.name} is up: Docker network ${info.network}, Cargo ${info.cargoIp} (gateway and DNS), tunnel ${info.clientAddress} -> ${info.endpoint}`,
        );
      } finally {
        process.off("SIGINT", onSignal);
      }
    });

  common(program.command("down"))
    .description("disconnect: remove Cargo, its Docker network and the Connection")
    .option("--name <name>", "connection name (default: user-host)")
    .action(async (o: Common & { name?: string }) => {
      const r = await recorded(
        { kind: "connection", context: contextName(o), target: o.name ?? defaultConnectionName() },
        () => down({ ...cluster(o), ...(o.name ? { name: o.name } : {}) }, progress(o)),
        (d) => ({ type: "down", message: `connection ${d.name} is down`, endSession: "down" }),
      );
      const note = r.clusterError ? ` (cluster side not removed: ${r.clusterError.message})` : "";
      out(o, r, `connection ${r.name} is down${note}`);
    });

  common(program.command("status"))
    .description("show the installation and the connections")
    .action(async (o: Common) => {
      const r = await status(cluster(o));
      const lines = [
        `context ${r.context}: ${r.installed ? `installed (operator ${r.operatorReady ? "ready" : "not ready"}, stowaway ${r.stowawayReady ? "ready" : "not ready"})` : "not installed"}`,
        ...r.connections.map(
          (c) =>
            `  ${c.name}  ${c.phase}  ${c.clientAddress ?? "-"}  client ${c.client}  heartbeat ${c.lastHeartbeat ?? "-"}  local ${c.local ? `${c.local.running ? "running" : "stopped"} ${c.local.cargoIp ?? ""} handshake ${c.local.lastHandshake ?? "-"} rx ${c.local.bytesReceived ?? "-"} B tx ${c.local.bytesSent ?? "-"} B dns ${c.local.dnsHealthy === null ? "-" : c.local.dnsHealthy ? "ok" : "FAILING"}` : "-"}`,
        ),
        ...r.orphans.map((n) => `  ${n}  (local Cargo without Connection: gefyra down --name ${n})`),
      ];
      out(o, r, lines.join("\n"));
    });

  imageFlags(common(program.command("install")))
    .description("install the operator and Stowaway (or print their manifests)")
    .option("--print", "print the manifests as YAML instead of applying them")
    .action(async (o: Common & ImageFlags & { print?: boolean }) => {
      const r = await install({ ...cluster(o), ...settings(o), ...(o.print ? { print: true } : {}) }, progress(o));
      if (o.print) process.stdout.write(o.json ? `${JSON.stringify(r.manifests, null, 2)}\n` : r.yaml);
      else out(o, { applied: true, images: r.images }, "installed");
    });

  common(program.command("uninstall"))
    .description("remove every connection, the operator, Stowaway, the CRD and RBAC")
    .action(async (o: Common) => {
      await uninstall(cluster(o), progress(o));
      out(o, { uninstalled: true }, "uninstalled: nothing of gefyra-ts is left in the cluster or in Docker");
    });

  registerContainerCommands(program);
  registerStoreCommands(program);
  registerProfileRunCommands(program);

  registerBridgeCommands(program);
  registerTrafficCommands(program);
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  const json = argv.includes("--json");
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    const e = error as { code?: string; exitCode?: number };
    if (typeof e.code === "string" && e.code.startsWith("commander.")) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return e.exitCode ?? 2;
    }
    const g = toGefyraError(error);
    if (json) process.stdout.write(`${JSON.stringify({ error: g.toJSON() })}\n`);
    process.stderr.write(`gefyra: ${g.message}\n`);
    return 1;
  }
}
