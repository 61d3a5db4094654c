/**
 * Raw TCP: byte-for-byte piping with correct half-close (a FIN from one side is passed on while the
 * other direction keeps flowing), one record of kind "tcp" per connection.
 */
import net from "node:net";
import { type RouteDecision } from "../../shared/src/rules/index";
import { noRouteMessage, routeTaken, since, unreachable, type PortContext } from "./context";
import { errorText } from "./log";

export function pipeTcp(ctx: PortContext, client: net.Socket, decision: RouteDecision, firstBytes: Buffer | null): void {
  const t0 = process.hrtime.bigint();
  const started = new Date();
  const clientName = `${client.remoteAddress ?? "?"}:${client.remotePort ?? "?"}`;
  let bytesIn = firstBytes?.length ?? 0;
  let bytesOut = 0;
  let ttfb: number | null = null;
  let error: string | undefined;
  let closed = 0;
  const done = () => {
    if (++closed < 2 || !ctx.recording) return;
    const durationMs = since(t0);
    ctx.recorder.add({ error, bytesIn, bytesOut, durationMs }, () => ({
      kind: "tcp",
      port: ctx.listenPort,
      time: started.toISOString(),
      client: clientName,
      ttfbMs: ttfb,
      durationMs,
      bytesIn,
      bytesOut,
      route: decision.to === "none" ? { to: "carrier", rule: "no route" } : routeTaken(decision),
      ...(error ? { error } : {}),
    }));
  };

  if (decision.to === "none") {
    error = noRouteMessage(ctx.listenPort);
    closed = 1;
    client.once("close", done);
    client.destroy();
    return;
  }
  const dest = decision.destination;
  const up = net.connect({ host: dest.host, port: dest.port, allowHalfOpen: true });
  up.setNoDelay(true);
  client.setNoDelay(true);
  const timer = setTimeout(() => up.destroy(Object.assign(new Error(`no connection within ${ctx.connectTimeoutMs} ms`), { code: "ETIMEDOUT" })), ctx.connectTimeoutMs);
  client.pause();
  up.once("connect", () => {
    clearTimeout(timer);
    if (firstBytes?.length) up.write(firstBytes);
    client.pipe(up);
    up.pipe(client);
    client.resume();
  });
  client.on("data", (c: Buffer) => (bytesIn += c.length));
  up.on("data", (c: Buffer) => {
    ttfb ??= since(t0);
    bytesOut += c.length;
  });
  up.on("error", (e) => {
    clearTimeout(timer);
    error ??= unreachable(decision, errorText(e));
    client.destroy();
  });
  client.on("error", (e) => {
    error ??= `client connection failed: ${errorText(e)}`;
    up.destroy();
  });
  // one side fully closed: flush what is left to the other, then close it too
  up.once("close", () => {
    clearTimeout(timer);
    finishThenDestroy(client);
    done();
  });
  client.once("close", () => {
    finishThenDestroy(up);
    done();
  });
}

function finishThenDestroy(s: net.Socket): void {
  if (s.destroyed) return;
  if (!s.writableEnded) s.end();
  if (s.writableFinished) s.destroy();
  else s.once("finish", () => s.destroy());
}
