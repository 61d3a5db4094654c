import { describe, expect, it } from "vitest";
import { GefyraError } from "../../core/errors";
import { defaultBridgeName } from "../../core/bridge";
import { describeBridge, matchesFrom, parseBridgePort } from "./bridges";

const none = { matchHeader: [], matchHeaderPrefix: [], matchHeaderRegex: [], matchPath: [], matchPathPrefix: [], matchPathRegex: [] };

describe("gefyra bridge flags", () => {
  it("reads --port REMOTE:LOCAL, and REMOTE alone as the same port locally", () => {
    expect(parseBridgePort("8080:3000")).toEqual({ remote: 8080, local: 3000 });
    expect(parseBridgePort("9090")).toEqual({ remote: 9090, local: 9090 });
  });

  it("refuses ports that are not numbers in range, saying what is expected", () => {
    for (const bad of ["", "http", "0:80", "80:70000", "80:", "80:81:82"]) {
      expect(() => parseBridgePort(bad)).toThrow(GefyraError);
    }
    expect(() => parseBridgePort("x")).toThrow(/REMOTE:LOCAL/);
  });

  it("turns the match flags into ANDed rules, header values may contain '='", () => {
    expect(matchesFrom({ ...none, matchHeader: ["x-user=alice"], matchHeaderRegex: ["x-q=a=b"], matchPathPrefix: ["/api"] })).toEqual([
      { kind: "header", name: "x-user", op: "exact", value: "alice" },
      { kind: "header", name: "x-q", op: "regex", value: "a=b" },
      { kind: "path", op: "prefix", value: "/api" },
    ]);
    expect(() => matchesFrom({ ...none, matchHeader: ["x-user"] })).toThrow(/NAME=VALUE/);
  });

  it("names bridges LOCAL-to-TARGET within Kubernetes' limits", () => {
    expect(defaultBridgeName("api", "shop")).toBe("api-to-shop");
    expect(defaultBridgeName("My_App", "Shop.V2")).toBe("my-app-to-shop-v2");
    expect(defaultBridgeName("a".repeat(50), "b".repeat(50))).toHaveLength(63);
  });

  it("lists a bridge on one line with its rule, ports and ready pods", () => {
    const line = describeBridge({
      name: "alice-shop",
      connection: "c",
      namespace: "shop",
      target: { kind: "deployment", name: "shop", container: "app" },
      ports: [{ remote: 8080, local: 3000 }],
      match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }],
      local: "alice",
      state: "Active",
      pods: [{ name: "p1", ready: true }, { name: "p2", ready: false }],
      createdAt: "2026-01-01T00:00:00.000Z",
    });
    expect(line).toBe("alice-shop\tActive\tdeployment/shop/app\tshop\t8080->3000\tx-user=alice\talice\t1/2 pods");
  });
});
