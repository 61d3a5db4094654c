import { describe, expect, it } from "vitest";
import { expandReferences, serviceLinkVariables } from "./environment";
import { formatWorkloadRef, parseWorkloadRef } from "./workload";

describe("parseWorkloadRef", () => {
  it("accepts the kinds and aliases users type", () => {
    expect(parseWorkloadRef("deploy/api")).toEqual({ kind: "deployment", name: "api" });
    expect(parseWorkloadRef("deployment/api/app")).toEqual({ kind: "deployment", name: "api", container: "app" });
    expect(parseWorkloadRef("sts/db")).toEqual({ kind: "statefulset", name: "db" });
    expect(parseWorkloadRef("pod/api-7d9c")).toEqual({ kind: "pod", name: "api-7d9c" });
  });
  it("refuses anything else with the accepted forms in the message", () => {
    for (const bad of ["api", "svc/api", "deploy/", "deploy/a/b/c", "deploy//x"]) {
      expect(() => parseWorkloadRef(bad)).toThrow(/deploy\/NAME\[\/CONTAINER\]/);
    }
  });
  it("formats back", () => {
    expect(formatWorkloadRef(parseWorkloadRef("deployment/api/app"))).toBe("deploy/api/app");
  });
});

describe("expandReferences", () => {
  it("replaces known names, keeps unknown ones, and unescapes $$", () => {
    const known = { HOST: "db", PORT: "5432" };
    expect(expandReferences("postgres://$(HOST):$(PORT)/x", known)).toBe("postgres://db:5432/x");
    expect(expandReferences("$(MISSING)-$$(HOST)", known)).toBe("$(MISSING)-$(HOST)");
  });
});

describe("serviceLinkVariables", () => {
  it("writes the docker-links variables kubelet writes, skipping headless services", () => {
    const env = serviceLinkVariables([
      { metadata: { name: "redis-main" }, spec: { clusterIP: "10.96.0.7", ports: [{ name: "redis", port: 6379, protocol: "TCP" }] } },
      { metadata: { name: "headless" }, spec: { clusterIP: "None", ports: [{ port: 80 }] } },
    ]);
    expect(env).toMatchObject({
      REDIS_MAIN_SERVICE_HOST: "10.96.0.7",
      REDIS_MAIN_SERVICE_PORT: "6379",
      REDIS_MAIN_SERVICE_PORT_REDIS: "6379",
      REDIS_MAIN_PORT: "tcp://10.96.0.7:6379",
      REDIS_MAIN_PORT_6379_TCP: "tcp://10.96.0.7:6379",
      REDIS_MAIN_PORT_6379_TCP_PROTO: "tcp",
      REDIS_MAIN_PORT_6379_TCP_PORT: "6379",
      REDIS_MAIN_PORT_6379_TCP_ADDR: "10.96.0.7",
    });
    expect(Object.keys(env).some((k) => k.startsWith("HEADLESS"))).toBe(false);
  });
});
