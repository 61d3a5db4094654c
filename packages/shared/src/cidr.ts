/** IPv4 CIDR arithmetic: parsing, overlap tests, free-subnet choice, address allocation. */

export interface Cidr {
  /** network address as an unsigned 32-bit number */
  base: number;
  prefix: number;
}

export function parseIPv4(text: string): number {
  const parts = text.trim().split(".");
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${text}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) throw new Error(`not an IPv4 address: ${text}`);
    const v = Number(p);
    if (v > 255) throw new Error(`not an IPv4 address: ${text}`);
    n = n * 256 + v;
  }
  return n >>> 0;
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

export function isIPv4(text: string): boolean {
  try {
    parseIPv4(text);
    return true;
  } catch {
    return false;
  }
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n" (a bare address is a /32); the base is normalised to the network address. */
export function parseCidr(text: string): Cidr {
  const [addr, bits] = text.trim().split("/");
  const prefix = bits === undefined ? 32 : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not an IPv4 CIDR: ${text}`);
  return { base: (parseIPv4(addr ?? "") & mask(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function isIPv4Cidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The nth address of a CIDR (0 = network address). */
export function nthAddress(c: Cidr, n: number): string {
  if (n < 0 || n >= cidrSize(c)) throw new Error(`address #${n} is outside ${formatCidr(c)}`);
  return formatIPv4((c.base + n) >>> 0);
}

/**
 * The first /`prefix` inside one of `pools` that overlaps none of `taken` (strings or Cidrs).
 * Used to pick a Docker network subnet that collides neither with other Docker networks nor with
 * the cluster's pod/service CIDRs, the tunnel subnet or the host's routes.
 */
export function chooseFreeSubnet(pools: readonly string[], taken: readonly string[], prefix = 24): string | undefined {
  const blocked = taken.filter(isIPv4Cidr).map(parseCidr);
  for (const poolText of pools) {
    const pool = parseCidr(poolText);
    if (pool.prefix > prefix) continue;
    const step = 2 ** (32 - prefix);
    for (let base = pool.base; base < pool.base + cidrSize(pool); base += step) {
      const candidate = { base: base >>> 0, prefix };
      if (!blocked.some((b) => cidrsOverlap(b, candidate))) return formatCidr(candidate);
    }
  }
  return undefined;
}

/** Default pools for local Docker networks, in order of preference (less crowded ranges first). */
export const DOCKER_SUBNET_POOLS = ["172.30.0.0/16", "172.29.0.0/16", "10.213.0.0/16", "192.168.224.0/20"];

/**
 * The lowest free host address of a tunnel subnet for a new peer. The network address, the
 * first host (Stowaway's own) and the broadcast address are never handed out.
 */
export function allocateAddress(subnet: string, used: Iterable<string>): string | undefined {
  const c = parseCidr(subnet);
  const taken = new Set<number>();
  for (const u of used) {
    try {
      taken.add(parseIPv4(u.split("/")[0] ?? ""));
    } catch {
      /* ignore malformed */
    }
  }
  for (let n = 2; n < cidrSize(c) - 1; n++) {
    const ip = (c.base + n) >>> 0;
    if (!taken.has(ip)) return formatIPv4(ip);
  }
  return undefined;
}

/** Stowaway's own address in the tunnel subnet, with the subnet's prefix (e.g. 192.168.213.1/24). */
export function stowawayAddress(subnet: string): string {
  const c = parseCidr(subnet);
  return `${nthAddress(c, 1)}/${c.prefix}`;
}

/**
 * Parses the valid service range out of the API server's answer to a Service with an invalid
 * clusterIP ("... The range of valid IPs is 10.96.0.0/16"), as upstream Gefyra does.
 */
export function serviceCidrFromError(message: string): string[] {
  const match = /valid IPs is ([0-9./, ]+)/.exec(message);
  if (!match?.[1]) return [];
  return match[1]
    .split(/[ ,]+/)
    .map((s) => s.trim())
    .filter(isIPv4Cidr);
}
