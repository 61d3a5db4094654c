/**
 * The local app containers (`gefyra run`), live: the list from core/run, again after every Docker
 * event about one of our containers (Docker's event stream, no polling). While Docker is down the
 * message says so and the stream reconnects with back-off.
 */
import type Docker from "dockerode";
import { connectDocker } from "../connection/docker";
import { APP_LABEL, listLocal, type LocalContainer } from "../run/local-container";
import { toGefyraError } from "../errors";

export type LocalContainersMessage = { type: "list"; containers: LocalContainer[] } | { type: "error"; code: string; message: string };

export async function* watchLocalContainers(signal: AbortSignal | undefined, options: { docker?: Docker; debounceMs?: number } = {}): AsyncGenerator<LocalContainersMessage> {
  let backoff = 1000;
  while (!signal?.aborted) {
    let events: NodeJS.ReadableStream | undefined;
    try {
      const docker = await connectDocker(options.docker);
      // subscribe before listing, so nothing that happens in between is missed
      events = await docker.getEvents({ filters: JSON.stringify({ type: ["container"], label: [APP_LABEL] }) });
      let dirty = true;
      let ended = false;
      let wake: (() => void) | null = null;
      const poke = () => {
        wake?.();
        wake = null;
      };
      events.on("data", () => {
        dirty = true;
        poke();
      });
      const end = () => {
        ended = true;
        poke();
      };
      events.on("end", end);
      events.on("close", end);
      events.on("error", end);
      signal?.addEventListener("abort", poke, { once: true });
      backoff = 1000;
      while (!signal?.aborted && !ended) {
        if (dirty) {
          dirty = false;
          yield { type: "list", containers: await listLocal({ docker }) };
          // coalesce a burst (holder + app start/stop/die/destroy come together)
          await new Promise((r) => setTimeout(r, options.debounceMs ?? 150));
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
      signal?.removeEventListener("abort", poke);
      if (signal?.aborted) break;
      throw new Error("the Docker event stream ended");
    } catch (error) {
      if (signal?.aborted) break;
      const e = toGefyraError(error, "DOCKER_UNAVAILABLE", "Lost the Docker engine's event stream");
      yield { type: "error", code: e.code, message: e.message };
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, backoff);
        signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
      backoff = Math.min(backoff * 2, 30_000);
    } finally {
      (events as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    }
  }
}
