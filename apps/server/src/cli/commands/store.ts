/** `gefyra profiles ...` and `gefyra history`: what the local store keeps. */
import fs from "node:fs";
import type { Command } from "commander";
import { GefyraError, describeCause } from "../../core/errors";
import { exportProfiles, importProfiles, listProfiles } from "../../core/profiles/profiles";
import { deleteSharedFromStore, listSharedWithLocal, publishProfile, pullProfile } from "../../core/profiles/shared";
import { openStore, type Store } from "../../store";
import { enforceRetention, resolveRetention, setRetention } from "../../store/retention";
import { common, out, type Common } from "../main";

interface StoreFlags extends Common {
  dataDir?: string;
}

function withStore(cmd: Command): Command {
  return common(cmd).option("--data-dir <dir>", "data directory (default: $GEFYRA_DATA_DIR, then $XDG_DATA_HOME/gefyra-ts)");
}

function clusterOptions(o: StoreFlags) {
  return { ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) };
}

async function using<T>(o: StoreFlags, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(o.dataDir ? { dataDir: o.dataDir } : {});
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

export function registerStoreCommands(program: Command): void {
  const profiles = program.command("profiles").description("saved bridge setups: list, export, import, delete; publish, pull and list --shared through the cluster");

  withStore(profiles.command("list"))
    .description("list saved profiles (--shared: the profiles shared in the cluster)")
    .option("--shared", "list the profiles shared in the cluster, each with the state of your local copy")
    .action((o: StoreFlags & { shared?: boolean }) =>
      using(o, async (store) => {
        if (o.shared) {
          const r = await listSharedWithLocal(store, clusterOptions(o));
          const rows = r.profiles.map(
            (p) => `${p.name}\t${p.profile ? `${p.profile.spec.target.namespace}/${p.profile.spec.target.workload}` : `INVALID: ${p.problem ?? ""}`}\t${p.changedBy ?? "-"}\t${p.changedAt ?? "-"}\t${p.local}`,
          );
          out(o, r, rows.length ? ["NAME\tTARGET\tCHANGED BY\tCHANGED AT\tLOCAL", ...rows].join("\n") : `no shared profiles in context "${r.context}"`);
          return;
        }
        const all = await listProfiles(store);
        const lines = all.map((p) => `${p.metadata.name}\t${p.spec.target.namespace}/${p.spec.target.workload}\t${p.metadata.description ?? ""}`);
        out(o, { profiles: all }, lines.length ? ["NAME\tTARGET\tDESCRIPTION", ...lines].join("\n") : "no profiles");
      }),
    );

  withStore(profiles.command("export"))
    .description("write profiles as YAML (all, or the named ones)")
    .argument("[names...]", "profile names")
    .option("--personal", "include personal values (local paths)")
    .option("-o, --output <file>", "write to this file instead of stdout")
    .action((names: string[], o: StoreFlags & { personal?: boolean; output?: string }) =>
      using(o, async (store) => {
        const yaml = await exportProfiles(store, names, { personal: o.personal === true });
        if (o.output) {
          fs.writeFileSync(o.output, yaml);
          process.stderr.write(`wrote ${o.output}\n`);
        } else process.stdout.write(yaml);
      }),
    );

  withStore(profiles.command("import"))
    .description("import every profile of a YAML file, or none if any is invalid")
    .argument("<file>", "YAML file (- for standard input)")
    .option("--replace", "overwrite profiles with the same name")
    .action((file: string, o: StoreFlags & { replace?: boolean }) =>
      using(o, async (store) => {
        let text: string;
        try {
          text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
        } catch (cause) {
          throw new GefyraError("PROFILE_FILE_UNREADABLE", `cannot read ${file} (${describeCause(cause)}): check the path`, { cause });
        }
        const names = await importProfiles(store, text, { file: file === "-" ? "stdin" : file, replace: o.replace === true });
        out(o, { imported: names }, `imported ${names.join(", ")}`);
      }),
    );

  withStore(profiles.command("delete"))
    .description("delete a saved profile (--shared: the cluster's copy instead)")
    .argument("<name>", "profile name")
    .option("--shared", "delete the profile shared in the cluster (only if nobody changed it since you loaded it); the local copy stays")
    .action((name: string, o: StoreFlags & { shared?: boolean }) =>
      using(o, async (store) => {
        if (o.shared) {
          const r = await deleteSharedFromStore(store, name, clusterOptions(o));
          out(o, { deleted: name, shared: true, context: r.context }, `deleted the shared profile ${name} in context "${r.context}"`);
          return;
        }
        if (!(await store.deleteProfile(name))) throw new GefyraError("PROFILE_NOT_FOUND", `no profile named ${name}: see gefyra profiles list`);
        out(o, { deleted: name }, `deleted ${name}`);
      }),
    );

  withStore(profiles.command("publish"))
    .description("share a saved profile through the cluster (its personal values stay on this machine)")
    .argument("<name>", "profile name")
    .option("--create", "share it as new even if it was pulled or published before (fails when the name is taken)")
    .action((name: string, o: StoreFlags & { create?: boolean }) =>
      using(o, async (store) => {
        const p = await publishProfile(store, name, { ...clusterOptions(o), ...(o.create ? { create: true } : {}) });
        out(o, { published: p }, `published ${name} (version ${p.resourceVersion}); teammates get it with gefyra profiles pull ${name}`);
      }),
    );

  withStore(profiles.command("pull"))
    .description("save the cluster's version of a shared profile locally (your personal values are kept)")
    .argument("<name>", "profile name")
    .action((name: string, o: StoreFlags) =>
      using(o, async (store) => {
        const r = await pullProfile(store, name, clusterOptions(o));
        out(o, { pulled: r.profile, version: r.shared.resourceVersion, changedBy: r.shared.changedBy }, `pulled ${name} (version ${r.shared.resourceVersion}, by ${r.shared.changedBy ?? "unknown"})`);
      }),
    );

  withStore(program.command("history"))
    .description("show session history (connections, runs, bridges) with their events and traffic figures")
    .option("--kind <kind>", "only connection, run or bridge sessions")
    .option("--limit <n>", "at most N sessions (default 50)")
    .option("--keep-days <days>", "keep history this many days (default 14; 0 = no age limit); saved")
    .option("--keep-mb <mb>", "keep at most this many MB of request records (default 200; 0 = no size limit); saved")
    .option("--prune", "apply the retention limits now (the dashboard also does this in the background)")
    .option("--retention", "show the retention limits and where they come from")
    .action((o: StoreFlags & { kind?: string; limit?: string; keepDays?: string; keepMb?: string; prune?: boolean; retention?: boolean }) =>
      using(o, async (store) => {
        if (o.keepDays !== undefined || o.keepMb !== undefined || o.prune || o.retention) {
          const number = (v: string | undefined, flag: string) => {
            if (v === undefined) return undefined;
            const n = Number(v);
            if (v.trim() === "" || !Number.isFinite(n) || n < 0) throw new GefyraError("INVALID_FLAG", `${flag} must be a number >= 0 (0 = no limit), got "${v}".`);
            return n;
          };
          const days = number(o.keepDays, "--keep-days");
          const mb = number(o.keepMb, "--keep-mb");
          await setRetention(store, { ...(days !== undefined ? { days } : {}), ...(mb !== undefined ? { mb } : {}) });
          const policy = await resolveRetention(store);
          for (const p of policy.problems) process.stderr.write(`gefyra: ${p}\n`);
          const pruned = o.prune ? await enforceRetention(store, { policy }) : undefined;
          const where = (s: string) => (s === "env" ? "from the environment" : s === "setting" ? "saved" : "default");
          const lines = [
            `history retention: ${policy.days ? `${policy.days} days` : "no age limit"} (${where(policy.source.days)}), ${policy.mb ? `${policy.mb} MB` : "no size limit"} (${where(policy.source.mb)})`,
            ...(pruned
              ? [`pruned: ${pruned.sessionsDeleted} session(s), ${pruned.requestsDeleted} request record(s), ${(pruned.bytesFreed / 1048576).toFixed(1)} MB; ${(pruned.storedBytes / 1048576).toFixed(1)} MB of request records kept`]
              : []),
          ];
          out(o, { retention: policy, ...(pruned ? { pruned } : {}) }, lines.join("\n"));
          return;
        }
        if (o.kind && !["connection", "run", "bridge"].includes(o.kind)) throw new GefyraError("INVALID_FLAG", "--kind must be connection, run or bridge");
        const sessions = await store.listSessions({
          ...(o.kind ? { kind: o.kind as "connection" | "run" | "bridge" } : {}),
          limit: o.limit ? Number(o.limit) : 50,
        });
        const stats = await store.sessionStats(sessions.map((s) => s.id));
        const withEvents = await Promise.all(sessions.map(async (s) => ({ ...s, events: await store.listSessionEvents(s.id), stats: stats.get(s.id) ?? null })));
        const traffic = (s: (typeof withEvents)[number]) =>
          s.stats ? `${s.stats.requests} req, ${s.stats.errors} err, p50/p95/p99 ${[s.stats.latencyMs.p50, s.stats.latencyMs.p95, s.stats.latencyMs.p99].map((v) => (v === null ? "-" : `${v}`)).join("/")} ms` : "-";
        const lines = withEvents.map(
          (s) =>
            `${s.startedAt.toISOString()}\t${s.kind}\t${s.target ?? "-"}\t${s.context ?? "-"}/${s.namespace ?? "-"}\t${s.endedAt ? `ended ${s.endedAt.toISOString()} (${s.stopReason ?? "stopped"})` : "active"}\t${s.events.length} events\t${traffic(s)}`,
        );
        out(o, { sessions: withEvents }, lines.length ? ["STARTED\tKIND\tTARGET\tCONTEXT/NAMESPACE\tSTATE\tEVENTS\tTRAFFIC", ...lines].join("\n") : "no sessions yet");
      }),
    );
}
