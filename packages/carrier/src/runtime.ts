/**
 * The Carrier process: standby until the first `carrier apply`, then a running Carrier that later
 * applies reconfigure live (decision 0018). It serves the local socket (local.ts) that `carrier
 * apply` and `carrier status` talk to.
 *
 *   standby      nothing listens but the local socket; `carrier apply` starts the workload
 *                listeners and the control server
 *   configured   by apply, or at start from the environment (CARRIER_CONFIG / CARRIER_CONFIG_JSON)
 */
import { z } from "zod";
import { Carrier, compileFor } from "./carrier";
import { ConfigError, parseConfig } from "./config";
import { LocalSocketInUse, serveLocal, type LocalAddress, type LocalAnswer, type LocalServer } from "./local";
import { errorText, type Logger } from "./log";

/** What `carrier status` prints (one JSON line). */
export interface RuntimeStatus {
  configured: boolean;
  /** How the running configuration came: `carrier apply`, the environment, or not yet (standby). */
  configuredBy: "apply" | "env" | null;
  revision: number;
  ports: number[];
  controlPort: number | null;
  pid: number;
  /** The local socket (an abstract name starts with @). */
  socket: string;
  startedAt: string;
  configuredAt: string | null;
}

/** What `carrier apply` prints (one JSON line). */
export interface ApplyResult {
  revision: number;
  ports: number[];
}

export const ApplyDocumentSchema = z
  .object({
    config: z.unknown(),
    token: z.string(),
  })
  .strict();

/** Visible ASCII only: it goes into an Authorization header and is compared byte for byte. */
const TOKEN_PATTERN = /^[\x21-\x7e]{16,4096}$/;

export class CarrierRuntime {
  private current: Carrier | undefined;
  private by: "apply" | "env" | null = null;
  private configuredAt: string | null = null;
  private readonly startedAt = new Date().toISOString();
  private local: LocalServer | undefined;
  /** Applies run one after another (each sees the state the previous one left). */
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;

  private constructor(private readonly log: Logger) {}

  /**
   * Serve the local socket. `carrier`: one already configured from the environment (then the socket
   * is a convenience: when another Carrier holds it, e.g. tests on one host, this one goes without).
   * Without it (standby) the socket is the only way in, so failing to bind it is fatal.
   */
  static async open(opts: { log: Logger; carrier?: Carrier; address?: LocalAddress }): Promise<CarrierRuntime> {
    const rt = new CarrierRuntime(opts.log);
    if (opts.carrier) {
      rt.current = opts.carrier;
      rt.by = "env";
      rt.configuredAt = rt.startedAt;
    }
    try {
      rt.local = await serveLocal((req) => rt.handle(req), opts.address);
    } catch (e) {
      if (!opts.carrier) {
        if (e instanceof LocalSocketInUse) throw new ConfigError(`${e.message}; use carrier status or carrier apply instead of starting another`);
        throw new ConfigError(`Carrier cannot serve its local socket, so carrier apply could not reach it: ${errorText(e)}`);
      }
      opts.log("warn", "no local socket: carrier status/apply cannot reach this Carrier", { reason: errorText(e) });
    }
    return rt;
  }

  get carrier(): Carrier | undefined {
    return this.current;
  }

  get socket(): string {
    return this.local?.address ?? "";
  }

  status(): RuntimeStatus {
    const c = this.current;
    return {
      configured: c !== undefined,
      configuredBy: this.by,
      revision: c?.revision ?? 0,
      ports: c?.ports ?? [],
      controlPort: c ? c.controlPort : null,
      pid: process.pid,
      socket: this.socket,
      startedAt: this.startedAt,
      configuredAt: this.configuredAt,
    };
  }

  /** Validate an apply document and start or reconfigure Carrier with it. */
  apply(doc: unknown): Promise<LocalAnswer> {
    const run = this.queue.then(() => this.applyNow(doc));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(doc: unknown): Promise<LocalAnswer> {
    if (this.stopping) return fail("STOPPING", "Carrier is stopping (the container is being terminated); apply to the new container once it runs");
    const d = ApplyDocumentSchema.safeParse(doc);
    if (!d.success) {
      const issue = d.error.issues[0];
      const at = issue && issue.path.length ? ` at ${issue.path.join(".")}` : "";
      return fail("BAD_INPUT", `the apply document is invalid${at}: ${issue?.message ?? "unknown problem"}; send {"config": {…}, "token": "…"}`);
    }
    const token = d.data.token.trim();
    if (!TOKEN_PATTERN.test(token)) return fail("TOKEN_INVALID", "token must be 16 to 4096 visible ASCII characters (no spaces); generate a longer one");
    let config;
    try {
      config = parseConfig(d.data.config, "config");
    } catch (e) {
      return fail("CONFIG_INVALID", e instanceof ConfigError ? e.message : errorText(e));
    }
    const c = this.current;
    if (!c) {
      // the routes first, for their own error codes (Carrier.start would only say it cannot start)
      const routes = compileFor(config.routes, config.listen.ports);
      if (!routes.ok) return fail(routes.error.code, `${routes.error.message}${routeHint(routes.error.code)}`);
      let started: Carrier;
      try {
        started = await Carrier.start({ config, token, log: this.log });
      } catch (e) {
        // nothing is left running: Carrier.start closes what it opened
        const text = errorText(e);
        return fail(/cannot listen/.test(text) ? "LISTEN_FAILED" : "START_FAILED", `${text}${listenHint(text)}`);
      }
      if (this.stopping) {
        await started.close();
        return fail("STOPPING", "Carrier is stopping (the container is being terminated); apply to the new container once it runs");
      }
      this.current = started;
      this.by = "apply";
      this.configuredAt = new Date().toISOString();
      this.log("info", "carrier configured", { revision: started.revision, ports: started.ports, controlPort: started.controlPort });
      return { ok: true, result: { revision: started.revision, ports: started.ports } satisfies ApplyResult };
    }
    const r = await c.reconfigure(config, token);
    if (!r.ok) return fail(r.error.code, `${r.error.message}${r.error.code === "LISTEN_FAILED" ? listenHint(r.error.message) : routeHint(r.error.code)}`);
    this.by = "apply";
    this.configuredAt = new Date().toISOString();
    return { ok: true, result: { revision: r.revision, ports: r.ports } satisfies ApplyResult };
  }

  private async handle(req: unknown): Promise<LocalAnswer> {
    const op = typeof req === "object" && req !== null ? (req as { op?: unknown }).op : undefined;
    if (op === "status") return { ok: true, result: this.status() };
    if (op === "drain") {
      if (!this.current) return fail("NOT_CONFIGURED", "Carrier is in standby (nothing listens on the workload's ports), so there is nothing to drain");
      return { ok: true, result: this.current.drain() };
    }
    if (op === "apply") {
      const { op: _op, ...doc } = req as Record<string, unknown>;
      return this.apply(doc);
    }
    return fail("BAD_REQUEST", `unknown request ${JSON.stringify(op)}; the local socket takes {"op":"status"}, {"op":"drain"} or {"op":"apply",…}`);
  }

  /** Stop Carrier (requests in flight get graceMs) and the local socket. */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    this.stopping = true;
    await this.queue;
    await Promise.all([this.current?.close(opts), this.local?.close()]);
  }
}

function fail(code: string, message: string): LocalAnswer {
  return { ok: false, error: { code, message } };
}

/** Carrier.start's and compileRouteTable's messages say what is wrong; this says that nothing changed. */
function routeHint(code: string): string {
  return code.startsWith("ROUTES_") ? "; nothing changed: correct the routes and apply again" : "";
}

function listenHint(text: string): string {
  if (/EACCES/.test(text)) {
    return " (ports below 1024 need root, or net.ipv4.ip_unprivileged_port_start=0 in the pod: containerd's CRI option enable_unprivileged_ports sets it for every pod)";
  }
  if (/EADDRINUSE/.test(text)) return " (another process of the pod already listens there: a sidecar, or the control port)";
  return "";
}
