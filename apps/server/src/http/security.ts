/**
 * The dashboard's security checks (docs/decisions/0002-one-process-serves-dashboard-and-api.md):
 * a random access token (cookie or Bearer), a Host allowlist against DNS rebinding, same-origin
 * WebSocket upgrades and cross-site mutation refusal against CSRF. Pure functions, tested alone.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import os from "node:os";

export function createAccessToken(): string {
  return randomBytes(24).toString("base64url");
}

/** The cookie is per port: two servers on one host do not overwrite each other's token. */
export function cookieName(port: number): string {
  return `gefyra_token_${port}`;
}

export function tokenCookie(port: number, token: string): string {
  return `${cookieName(port)}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}

export function sameToken(candidate: string | null | undefined, token: string): boolean {
  if (!candidate) return false;
  const a = Buffer.from(candidate);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

export type AuthMethod = "cookie" | "bearer";

/** Which credential authenticates this request, if any. */
export function authenticate(req: IncomingMessage, port: number, token: string): AuthMethod | null {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ") && sameToken(auth.slice(7).trim(), token)) return "bearer";
  if (sameToken(parseCookies(req.headers.cookie).get(cookieName(port)), token)) return "cookie";
  return null;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Host header values we answer to: loopback names with our port, plus the bound host (or, for
 * a wildcard bind, every address of this machine). Any other name is a DNS rebinding attempt.
 */
export function allowedHosts(port: number, boundHost: string): Set<string> {
  const hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  const extra =
    boundHost === "0.0.0.0" || boundHost === "::"
      ? Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address))
      : isLoopbackHost(boundHost)
        ? []
        : [boundHost];
  for (const address of extra) hosts.add(`${address.includes(":") ? `[${address.toLowerCase()}]` : address.toLowerCase()}:${port}`);
  return hosts;
}

export function hostAllowed(req: IncomingMessage, allowed: Set<string>): boolean {
  const host = req.headers.host?.toLowerCase();
  return host !== undefined && allowed.has(host);
}

/** Origin must be one of ours: http://<allowed host>. */
export function originAllowed(origin: string, allowed: Set<string>): boolean {
  try {
    const url = new URL(origin);
    return url.protocol === "http:" && allowed.has(url.host.toLowerCase()) && origin === url.origin;
  } catch {
    return false;
  }
}

/**
 * A state-changing request (anything but GET/HEAD) must not come from another site: browsers
 * tell us through Sec-Fetch-Site and Origin. Scripts send neither and authenticate by Bearer.
 */
export function crossSiteMutation(req: IncomingMessage, allowed: Set<string>): boolean {
  const method = req.method ?? "GET";
  if (method === "GET" || method === "HEAD") return false;
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") return true;
  const origin = req.headers.origin;
  if (origin !== undefined && !originAllowed(origin, allowed)) return true;
  return false;
}
