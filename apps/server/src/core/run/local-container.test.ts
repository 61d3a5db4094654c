import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { cpuQuantityToNano, memoryQuantityToBytes, parsePort, parseRestart, parseVolume } from "./local-container";

describe("parsePort (Docker's HOST:CONTAINER order)", () => {
  it("binds loopback unless an address is given", () => {
    expect(parsePort("8080:80")).toEqual({ hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" });
    expect(parsePort("0.0.0.0:5353:53/udp")).toEqual({ hostIp: "0.0.0.0", hostPort: 5353, containerPort: 53, protocol: "udp" });
  });
  it("refuses malformed or out-of-range mappings with the expected form", () => {
    for (const bad of ["80", "a:b", "70000:80", "8080:0", "8080:80/sctp"]) expect(() => parsePort(bad)).toThrow(/HOST:CONTAINER/);
  });
});

describe("parseVolume", () => {
  it("makes the source absolute and keeps ro", () => {
    const dir = mkdtempSync(`${tmpdir()}/vol-`);
    expect(parseVolume(`${dir}:/data:ro`)).toEqual({ source: dir, target: "/data", readOnly: true });
    expect(parseVolume(".:/src", dir)).toEqual({ source: dir, target: "/src", readOnly: false });
  });
  it("refuses a relative target and a missing source", () => {
    expect(() => parseVolume("/tmp:data")).toThrow(/HOST_PATH:CONTAINER_PATH/);
    expect(() => parseVolume("/no/such/dir:/data")).toThrow(/does not exist/);
  });
});

describe("quantities", () => {
  it("converts Kubernetes CPU and memory quantities to Docker's units", () => {
    expect(cpuQuantityToNano("250m")).toBe(250_000_000);
    expect(cpuQuantityToNano("2")).toBe(2_000_000_000);
    expect(memoryQuantityToBytes("96Mi")).toBe(96 * 2 ** 20);
    expect(memoryQuantityToBytes("1G")).toBe(1e9);
    expect(memoryQuantityToBytes("1048576")).toBe(1048576);
    expect(() => cpuQuantityToNano("lots")).toThrow(/not understood/);
  });
});

describe("parseRestart", () => {
  it("accepts Docker's policies only", () => {
    expect(parseRestart("on-failure:3")).toEqual({ Name: "on-failure", MaximumRetryCount: 3 });
    expect(parseRestart("always")).toEqual({ Name: "always" });
    expect(parseRestart(undefined)).toBeUndefined();
    expect(() => parseRestart("always:2")).toThrow(/restart policy/);
  });
});
