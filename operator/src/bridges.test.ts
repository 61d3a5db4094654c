import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { containerPorts, imageMatches, podSpecForTemplate, probePaths, readinessOf } from "./bridges";

const container: k8s.V1Container = {
  name: "app",
  image: "shop:1",
  ports: [
    { containerPort: 8080, name: "http" },
    { containerPort: 9090, name: "metrics" },
    { containerPort: 5353, protocol: "UDP", name: "dns" },
  ],
  readinessProbe: { httpGet: { path: "/ready?full=1", port: "http" } },
  livenessProbe: { httpGet: { path: "/live", port: 8080 } },
  startupProbe: { tcpSocket: { port: 7070 } },
};

describe("what Carrier must listen on and answer", () => {
  it("listens on every declared TCP port and on probe ports, never on UDP ones", () => {
    expect(containerPorts(container)).toEqual([7070, 8080, 9090]);
  });

  it("answers the httpGet probe paths of a port itself (named ports resolved, query dropped)", () => {
    expect(probePaths(container, 8080).sort()).toEqual(["/live", "/ready"]);
    expect(probePaths(container, 9090)).toEqual([]);
  });

  it("hands Carrier the httpGet readiness probe it fails while draining (kubelet's defaults filled in)", () => {
    expect(readinessOf(container)).toEqual({ port: 8080, path: "/ready", periodSeconds: 10, failureThreshold: 3 });
    expect(readinessOf({ ...container, readinessProbe: { httpGet: { path: "/r", port: 9090 }, periodSeconds: 1, failureThreshold: 5 } })).toEqual({ port: 9090, path: "/r", periodSeconds: 1, failureThreshold: 5 });
    expect(readinessOf({ ...container, readinessProbe: { tcpSocket: { port: 8080 } } })).toBeUndefined();
    expect(readinessOf({ ...container, readinessProbe: { httpGet: { port: "nope" } } })).toBeUndefined();
  });
});

describe("pod bookkeeping", () => {
  it("compares the image kubelet reports with the one asked for, normalised", () => {
    expect(imageMatches("docker.io/gefyra-ts/carrier:0.1.0", "gefyra-ts/carrier:0.1.0")).toBe(true);
    expect(imageMatches("docker.io/library/nginx:1.25", "nginx:1.25")).toBe(true);
    expect(imageMatches("gefyra-ts/carrier:0.1.0@sha256:abc", "gefyra-ts/carrier:0.1.0")).toBe(true);
    expect(imageMatches("shop:1", "gefyra-ts/carrier:0.1.0")).toBe(false);
    expect(imageMatches(undefined, "shop:1")).toBe(false);
  });

  it("makes a shadow template from a bare pod without what binds it to a node", () => {
    const spec = podSpecForTemplate({ nodeName: "n1", hostname: "h", subdomain: "s", containers: [container], ephemeralContainers: [{ name: "dbg" }] });
    expect(spec).toEqual({ containers: [container] });
  });
});
