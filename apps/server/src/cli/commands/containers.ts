/** `gefyra run | list | logs | stop | rm`: the developer's local containers in the cluster network. */
import type { Command } from "commander";
import { kubeConfigFor } from "../../core/contexts";
import { GefyraError } from "../../core/errors";
import { listLocal, logsLocal, removeLocal, runLocal, stopLocal, type LocalContainer, type RunOptions } from "../../core/run/local-container";
import { common, out, progress, type Common } from "../main";
import { bridgesForList, describeBridge } from "./bridges";
import { contextName, noteOnOpenSession, recorded } from "../session";

interface RunFlags extends Common {
  image?: string;
  build?: string;
  name: string;
  namespace?: string;
  connection?: string;
  envFrom?: string;
  env: string[];
  volume: string[];
  publish: string[];
  command?: string[];
  workdir?: string;
  user?: string;
  restart?: string;
  cpuFrom?: string;
  memoryFrom?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function parseEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new GefyraError("ENV_INVALID", `-e ${pair} is not KEY=VALUE`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

function describe(c: LocalContainer): string {
  const ports = c.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(",") || "-";
  return `${c.name}\t${c.state}\t${c.ip || "-"}\t${ports}\t${c.connection}\t${c.namespace}\t${c.image}`;
}

export function registerContainerCommands(program: Command): void {
  common(program.command("run"))
    .description("run a local container in the cluster network, like a pod of the namespace")
    .option("--image <image>", "image in the local Docker engine (pulled if missing)")
    .option("--build <dir>", "build the image from this folder's Dockerfile first")
    .requiredOption("--name <name>", "container name")
    .option("-n, --namespace <ns>", "namespace for DNS search domains, env-from and service links (default: the context's, else default)")
    .option("--connection <name>", "connection to join (default: user-host, as gefyra up)")
    .option("--env-from <workload>", "copy the environment of deploy/NAME[/CONTAINER], statefulset/NAME or pod/NAME")
    .option("-e, --env <KEY=VALUE>", "set a variable (wins over --env-from); repeatable", collect, [])
    .option("-v, --volume <SRC:DST[:ro]>", "mount a host path; repeatable", collect, [])
    .option("-p, --publish <[IP:]HOST:CONTAINER>", "publish a port, Docker's order HOST:CONTAINER (binds 127.0.0.1 unless IP given); repeatable", collect, [])
    .option("--command <arg...>", "command and arguments instead of the image's CMD")
    .option("--workdir <dir>", "working directory inside the container")
    .option("--user <user>", "user[:group] to run as")
    .option("--restart <policy>", "Docker restart policy: no, on-failure[:N], always, unless-stopped")
    .option("--cpu-from <workload>", "copy the CPU limit of this workload's container")
    .option("--memory-from <workload>", "copy the memory limit of this workload's container")
    .action(async (o: RunFlags) => {
      if (!o.image && !o.build) throw new GefyraError("IMAGE_MISSING", "say what to run: --image IMAGE, or --build DIR to build it");
      const needsCluster = Boolean(o.envFrom ?? o.cpuFrom ?? o.memoryFrom) || o.namespace === undefined;
      let kubeConfig;
      let namespace = o.namespace;
      if (needsCluster) {
        try {
          const found = kubeConfigFor(o.context, o.kubeconfig ? { kubeconfig: o.kubeconfig } : {});
          kubeConfig = found.kubeConfig;
          namespace ??= found.kubeConfig.getContextObject(found.context)?.namespace;
        } catch (error) {
          // without --env-from & co. the kubeconfig only picks the namespace: fall back to default
          if (o.envFrom ?? o.cpuFrom ?? o.memoryFrom) throw error;
        }
      }
      const ns = namespace ?? "default";
      const options: RunOptions = {
        name: o.name,
        ...(o.image ? { image: o.image } : {}),
        ...(o.build ? { build: o.build } : {}),
        namespace: ns,
        ...(o.connection ? { connection: o.connection } : {}),
        ...(o.envFrom ? { envFrom: o.envFrom } : {}),
        env: parseEnv(o.env),
        volumes: o.volume,
        ports: o.publish,
        ...(o.command ? { command: o.command } : {}),
        ...(o.workdir ? { workdir: o.workdir } : {}),
        ...(o.user ? { user: o.user } : {}),
        ...(o.restart ? { restart: o.restart } : {}),
        ...(o.cpuFrom ? { cpuFrom: o.cpuFrom } : {}),
        ...(o.memoryFrom ? { memoryFrom: o.memoryFrom } : {}),
        ...(kubeConfig ? { kubeConfig } : {}),
      };
      const c = await recorded(
        { kind: "run", context: contextName(o), namespace: ns, target: o.name },
        () => runLocal(options, progress(o)),
        (r) => ({ type: "run", message: `${r.name} runs ${r.image} at ${r.ip} (connection ${r.connection})` }),
      );
      out(o, c, `${c.name} is running at ${c.ip} in the cluster network (namespace ${c.namespace}, connection ${c.connection})`);
    });

  common(program.command("list"))
    .description("list local containers and bridges with their state")
    .option("--connection <name>", "only this connection's containers and bridges")
    .action(async (o: Common & { connection?: string }) => {
      const all = await listLocal(o.connection ? { connection: o.connection } : {});
      const { bridges, error } = await bridgesForList(o);
      const text = [
        all.length ? ["NAME\tSTATE\tIP\tPORTS\tCONNECTION\tNAMESPACE\tIMAGE", ...all.map(describe)].join("\n") : "no local containers",
        error ? `bridges: unknown (${error})` : bridges.length ? ["", "BRIDGE\tSTATE\tTARGET\tNAMESPACE\tPORTS\tRULES\tLOCAL\tPODS", ...bridges.map(describeBridge)].join("\n") : "no bridges",
      ];
      out(o, { containers: all, bridges, ...(error ? { bridgesError: error } : {}) }, text.join("\n"));
    });

  common(program.command("logs"))
    .description("show a local container's logs")
    .argument("<name>", "container name")
    .option("-f, --follow", "keep streaming until Ctrl-C")
    .option("--tail <lines>", "only the last N lines")
    .action(async (name: string, o: Common & { follow?: boolean; tail?: string }) => {
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once("SIGINT", stop);
      try {
        await logsLocal(name, process.stdout, { follow: o.follow === true, ...(o.tail ? { tail: Number(o.tail) } : {}), signal: ac.signal });
      } finally {
        process.off("SIGINT", stop);
      }
    });

  common(program.command("stop"))
    .description("stop a local container (it can be started again with docker start)")
    .argument("<name>", "container name")
    .action(async (name: string, o: Common) => {
      await stopLocal(name);
      await noteOnOpenSession({ kind: "run", target: name }, "stop", `${name} stopped`);
      out(o, { stopped: name }, `${name} stopped`);
    });

  common(program.command("rm"))
    .description("remove a local container")
    .argument("<name>", "container name")
    .action(async (name: string, o: Common) => {
      await removeLocal(name);
      await noteOnOpenSession({ kind: "run", target: name }, "remove", `${name} removed`, "removed");
      out(o, { removed: name }, `${name} removed`);
    });
}
