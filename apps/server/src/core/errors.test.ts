import { describe, expect, it } from "vitest";
import { GefyraError, describeCause, toGefyraError } from "./errors";

describe("GefyraError", () => {
  it("keeps code, a one-line message, details and the cause", () => {
    const cause = new Error("ECONNREFUSED 127.0.0.1:6443");
    const error = new GefyraError("CLUSTER_UNREACHABLE", "Cannot reach the cluster\n  at dev: check it runs.", { cause, details: { context: "dev" } });
    expect(error.message).toBe("Cannot reach the cluster at dev: check it runs.");
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toEqual({ code: "CLUSTER_UNREACHABLE", message: "Cannot reach the cluster at dev: check it runs.", details: { context: "dev" } });
    expect(error).toBeInstanceOf(Error);
  });

  it("wraps unknown errors without losing a GefyraError", () => {
    const own = new GefyraError("X", "x");
    expect(toGefyraError(own)).toBe(own);
    const wrapped = toGefyraError(Object.assign(new Error("boom"), { code: "EPIPE" }), "DOCKER_FAILED", "Docker failed");
    expect(wrapped).toMatchObject({ code: "DOCKER_FAILED", message: "Docker failed (EPIPE: boom)" });
    expect(describeCause("plain")).toBe("plain");
  });
});
