import { describe, expect, it } from "vitest";
import { ReconcileQueue } from "./queue";

describe("ReconcileQueue", () => {
  it("deduplicates waiting keys, runs one at a time and retries failures with backoff", async () => {
    const seen: string[] = [];
    let running = 0;
    let maxRunning = 0;
    let failOnce = true;
    const q = new ReconcileQueue(
      async (key) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(key);
        running--;
        if (key === "b" && failOnce) {
          failOnce = false;
          throw new Error("boom");
        }
      },
      { baseDelayMs: 10 },
    );
    q.add("a");
    q.add("b");
    q.add("a");
    await q.idle();
    await new Promise((r) => setTimeout(r, 50));
    await q.idle();
    q.stop();
    expect(maxRunning).toBe(1);
    expect(seen.filter((k) => k === "a").length).toBeLessThanOrEqual(2);
    expect(seen.filter((k) => k === "b")).toEqual(["b", "b"]);
  });
});
