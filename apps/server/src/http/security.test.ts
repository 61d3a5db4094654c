import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { allowedHosts, crossSiteMutation, originAllowed, parseCookies, sameToken } from "./security";

const req = (method: string, headers: Record<string, string>): IncomingMessage => ({ method, headers }) as unknown as IncomingMessage;

describe("security checks", () => {
  it("allows loopback names with our port only", () => {
    const hosts = allowedHosts(7240, "127.0.0.1");
    expect([...hosts].sort()).toEqual(["127.0.0.1:7240", "[::1]:7240", "localhost:7240"]);
  });

  it("adds an explicit non-loopback bind address, and every local address for a wildcard bind", () => {
    expect(allowedHosts(7240, "192.168.1.20").has("192.168.1.20:7240")).toBe(true);
    const wildcard = allowedHosts(7240, "0.0.0.0");
    expect(wildcard.has("127.0.0.1:7240")).toBe(true);
    expect(wildcard.has("evil.example:7240")).toBe(false);
  });

  it("accepts only exact same-origin Origins", () => {
    const hosts = allowedHosts(7240, "127.0.0.1");
    expect(originAllowed("http://127.0.0.1:7240", hosts)).toBe(true);
    expect(originAllowed("http://localhost:7240", hosts)).toBe(true);
    expect(originAllowed("http://127.0.0.1:7241", hosts)).toBe(false);
    expect(originAllowed("https://127.0.0.1:7240", hosts)).toBe(false);
    expect(originAllowed("null", hosts)).toBe(false);
    expect(originAllowed("http://127.0.0.1:7240/path", hosts)).toBe(false);
  });

  it("refuses cross-site mutations, lets reads and same-origin or script mutations through", () => {
    const hosts = allowedHosts(7240, "127.0.0.1");
    expect(crossSiteMutation(req("GET", { "sec-fetch-site": "cross-site" }), hosts)).toBe(false);
    expect(crossSiteMutation(req("POST", { "sec-fetch-site": "cross-site" }), hosts)).toBe(true);
    expect(crossSiteMutation(req("POST", { "sec-fetch-site": "same-site" }), hosts)).toBe(true);
    expect(crossSiteMutation(req("POST", { origin: "http://evil.example" }), hosts)).toBe(true);
    expect(crossSiteMutation(req("POST", { origin: "http://127.0.0.1:7240", "sec-fetch-site": "same-origin" }), hosts)).toBe(false);
    expect(crossSiteMutation(req("POST", {}), hosts)).toBe(false);
  });

  it("compares tokens in constant time and parses cookies", () => {
    expect(sameToken("abc", "abc")).toBe(true);
    expect(sameToken("abd", "abc")).toBe(false);
    expect(sameToken("ab", "abc")).toBe(false);
    expect(sameToken(undefined, "abc")).toBe(false);
    expect(parseCookies("a=1; gefyra_token_7240=t=x; b=2").get("gefyra_token_7240")).toBe("t=x");
  });
});
