/** `gefyra profiles start | stop | save --from-bridge`: a profile as a running bridge, and back. */
import type { Command } from "commander";
import { GefyraError } from "../../core/errors";
import { saveProfileFromBridge } from "../../core/profiles/from-bridge";
import { listProfiles } from "../../core/profiles/profiles";
import { startProfile, stopProfile } from "../../core/profiles/run";
import { openStore, type Store } from "../../store";
import { common, out, type Common } from "../main";
import { contextName, noteOnOpenSession, recorded } from "../session";

interface Flags extends Common {
  dataDir?: string;
  connection?: string;
}

function flags(cmd: Command): Command {
  return common(cmd)
    .option("--data-dir <dir>", "data directory (default: $GEFYRA_DATA_DIR, then $XDG_DATA_HOME/gefyra-ts)")
    .option("--connection <name>", "connection (default: user-host, as gefyra up)");
}

const clusterOptions = (o: Common) => ({ ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) });

async function using<T>(o: Flags, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(o.dataDir ? { dataDir: o.dataDir } : {});
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

const line = (o: Common) => (p: { step: string; message: string }) => process.stderr.write(`${o.json ? "" : "» "}${p.step}: ${p.message}\n`);

/** Adds start, stop and save to the `profiles` command registered by ./store. */
export function registerProfileRunCommands(program: Command): void {
  const profiles = program.commands.find((c) => c.name() === "profiles") ?? program.command("profiles");

  flags(profiles.command("start"))
    .description("start a profile: run its local container, then bridge the workload to it (the container goes again if the bridge fails)")
    .argument("<name>", "profile name")
    .option("--container-name <name>", "the local container's name (default: the profile's)")
    .option("--bridge-name <name>", "the bridge's name (default: the profile's)")
    .option("--timeout <seconds>", "give up on the bridge after this long (default 120)")
    .action(async (name: string, o: Flags & { containerName?: string; bridgeName?: string; timeout?: string }) => {
      const timeout = o.timeout === undefined ? undefined : Number(o.timeout);
      if (timeout !== undefined && (!Number.isFinite(timeout) || timeout <= 0)) throw new GefyraError("INVALID_FLAG", `--timeout must be a number of seconds > 0, got "${o.timeout}".`);
      const ac = new AbortController();
      const onSignal = () => ac.abort(new Error("interrupted"));
      process.once("SIGINT", onSignal);
      try {
        await using(o, async (store) => {
          const profile = (await listProfiles(store)).find((p) => p.metadata.name === name);
          if (!profile) throw new GefyraError("PROFILE_NOT_FOUND", `no profile named ${name}: see gefyra profiles list (or pull it: gefyra profiles pull ${name})`);
          const bridgeName = o.bridgeName ?? name;
          const r = await recorded(
            { kind: "bridge", context: contextName(o), namespace: profile.spec.target.namespace, target: bridgeName },
            (session) =>
              startProfile(
                name,
                {
                  ...clusterOptions(o),
                  profile,
                  ...(o.connection ? { connection: o.connection } : {}),
                  ...(o.containerName ? { containerName: o.containerName } : {}),
                  bridgeName,
                  ...(timeout ? { timeoutMs: timeout * 1000 } : {}),
                  signal: ac.signal,
                },
                (p) => {
                  line(o)(p);
                  if (p.step !== "container" || p.detail !== "image") void session?.event(`profile.${p.step}`, p.message);
                },
              ),
            (s) => ({ type: "profile.start", message: `profile ${s.profile} runs: ${s.container.name} at ${s.container.ip}, bridge ${s.bridge.name} ${s.bridge.state} (${s.bridge.pods.length} pod(s)) in ${Math.round(s.elapsedMs / 100) / 10} s` }),
          );
          out(
            o,
            r,
            `profile ${name} runs: ${r.bridge.match.length ? "matching requests" : "all traffic"} on ${r.bridge.target.kind}/${r.bridge.target.name} port(s) ${r.bridge.ports.map((p) => `${p.remote}->${p.local}`).join(", ")} go to ${r.container.name} (${r.container.ip}); stop with gefyra profiles stop ${name}`,
          );
        });
      } finally {
        process.off("SIGINT", onSignal);
      }
    });

  flags(profiles.command("stop"))
    .description("stop a profile: remove its bridge (the workload is restored), then its local container")
    .argument("<name>", "profile name")
    .option("--container-name <name>", "the local container's name, if it was not the profile's")
    .option("--bridge-name <name>", "the bridge's name, if it was not the profile's")
    .action(async (name: string, o: Flags & { containerName?: string; bridgeName?: string }) => {
      const r = await stopProfile(
        name,
        {
          ...clusterOptions(o),
          ...(o.connection ? { connection: o.connection } : {}),
          ...(o.containerName ? { containerName: o.containerName } : {}),
          ...(o.bridgeName ? { bridgeName: o.bridgeName } : {}),
        },
        line(o),
      );
      for (const b of r.bridges) await noteOnOpenSession({ kind: "bridge", context: contextName(o), target: b }, "profile.stop", `profile ${name} stopped: bridge ${b} removed, ${r.containers.join(", ") || "no container"} removed`, "stopped");
      out(o, r, `profile ${name} stopped: ${[...r.bridges.map((b) => `bridge ${b}`), ...r.containers.map((c) => `container ${c}`)].join(", ")} removed`);
    });

  flags(profiles.command("save"))
    .description("save a running bridge as a profile: target, ports and rules from the bridge; image, env and ports from its local container (host paths stay personal)")
    .argument("<name>", "profile name")
    .requiredOption("--from-bridge <bridge>", "the bridge to save (see gefyra list)")
    .option("--description <text>", "what the profile is for")
    .option("--replace", "overwrite a profile of the same name")
    .action((name: string, o: Flags & { fromBridge: string; description?: string; replace?: boolean }) =>
      using(o, async (store) => {
        const r = await saveProfileFromBridge(store, {
          ...clusterOptions(o),
          bridge: o.fromBridge,
          name,
          ...(o.description ? { description: o.description } : {}),
          ...(o.replace ? { replace: true } : {}),
        });
        for (const note of r.notes) process.stderr.write(`gefyra: note: ${note}\n`);
        out(o, { saved: r.profile, notes: r.notes }, `saved profile ${name} from bridge ${o.fromBridge} (${r.profile.spec.target.namespace}/${r.profile.spec.target.workload}); start it with gefyra profiles start ${name}`);
      }),
    );
}
