import { describe, expect, it } from "vitest";
import { checkSafeRegex, compileRouteTable, compileSafeRegex, routeConnection, routeRequest, type CompiledPort, type RouteTableInput } from "./index";

const A = { host: "127.0.0.1", port: 1001 };
const B = { host: "127.0.0.1", port: 1002 };
const O = { host: "127.0.0.1", port: 1000 };

function compilePort(table: RouteTableInput): CompiledPort {
  const r = compileRouteTable(table);
  if (!r.ok) throw new Error(r.error.message);
  return r.value.ports.get(table.ports[0]!.port)!;
}
const req = (path: string, headers: Record<string, string> = {}) => ({
  path,
  header: (n: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === n)?.[1],
});

describe("safe regex engine", () => {
  const agree = [
    ["^/api/v[0-9]+/users$", ["/api/v2/users", "/api/v/users", "/api/v10/users/x", "x/api/v1/users"]],
    ["a|bc|", ["", "x", "bc"]],
    ["^(foo|bar)+baz$", ["foobarbaz", "baz", "foofoo"]],
    ["\\bali(ce)?\\b", ["alice", "ali", "malice", "ali-ce"]],
    ["^[^/]+\\.json$", ["a.json", "a/b.json", ".json"]],
    ["x{2,3}y", ["xy", "xxy", "xxxxy"]],
    ["^\\d{3}-\\w+\\s?$", ["123-abc", "123-abc ", "12-abc"]],
    ["^[a-c\\d-]*$", ["ab-12", "abz"]],
    ["(?:a*)*b", ["aaab", "aaa"]],
    ["^.$", ["é", "😀", "ab"]],
  ] as const;
  it.each(agree)("%s agrees with RegExp", (pattern, inputs) => {
    const safe = compileSafeRegex(pattern);
    const native = new RegExp(pattern, "u");
    for (const s of inputs) expect(safe.test(s), `${pattern} on ${s}`).toBe(native.test(s));
  });

  it("refuses backreferences, lookarounds, overlong patterns and huge expansions with a reason", () => {
    expect(checkSafeRegex("(a)\\1")).toMatch(/backreferences are not supported/);
    expect(checkSafeRegex("(?<x>a)\\k<x>")).toMatch(/backreferences are not supported/);
    expect(checkSafeRegex("foo(?=bar)")).toMatch(/lookarounds are not supported/);
    expect(checkSafeRegex("(?<!x)y")).toMatch(/lookarounds are not supported/);
    expect(checkSafeRegex("a".repeat(300))).toMatch(/limit is 256/);
    expect(checkSafeRegex("(a{100}){100}")).toMatch(/expands to more than/);
    expect(checkSafeRegex("a**")).toMatch(/two quantifiers/);
    expect(checkSafeRegex("(ab")).toMatch(/missing '\)'/);
    expect(checkSafeRegex("\\p{L}")).toMatch(/property escapes/);
    expect(checkSafeRegex("^alice$")).toBeUndefined();
  });

  it("runs catastrophic-for-backtracking patterns in linear steps", () => {
    for (const pattern of ["^(a+)+$", "(a|a)*c", "a*a*a*a*a*b", "(x+x+)+y"]) {
      const re = compileSafeRegex(pattern);
      const input = "a".repeat(8192) + "!";
      expect(re.test(input)).toBe(false);
      // Pike VM bound: each position adds each instruction at most once per list
      expect(re.lastSteps).toBeLessThanOrEqual(re.programSize * (input.length + 1) * 2);
    }
  });
});

describe("route tables", () => {
  const personal: RouteTableInput = {
    ports: [
      {
        port: 8080,
        original: O,
        bridges: [
          { name: "alice", local: A, match: [{ kind: "header", name: "X-User", op: "exact", value: "alice" }] },
          { name: "bob", local: B, match: [{ kind: "header", name: "x-user", op: "exact", value: "bob" }] },
        ],
      },
    ],
  };

  it("routes by header, first match wins, others go to the original", () => {
    const p = compilePort(personal);
    const alice = routeRequest(p, req("/", { "x-user": "alice" }));
    expect(alice.to === "local" && alice.bridge.name).toBe("alice");
    const bob = routeRequest(p, req("/x", { "X-USER": "bob" }));
    expect(bob.to === "local" && bob.bridge.name).toBe("bob");
    expect(routeRequest(p, req("/", { "x-user": "carol" }))).toEqual({ to: "original", destination: O });
    expect(routeRequest(p, req("/"))).toEqual({ to: "original", destination: O });
    expect(routeConnection(p)).toEqual({ to: "original", destination: O });
  });

  it("ANDs matches within a bridge; path prefix and regex ignore the query", () => {
    const p = compilePort({
      ports: [
        {
          port: 80,
          bridges: [
            {
              name: "v2",
              local: A,
              match: [
                { kind: "path", op: "prefix", value: "/v2/" },
                { kind: "header", name: "x-team", op: "regex", value: "^(red|blue)$" },
              ],
            },
            { name: "orders", local: B, match: [{ kind: "path", op: "regex", value: "^/orders/\\d+$" }] },
          ],
        },
      ],
    });
    expect(routeRequest(p, req("/v2/a", { "x-team": "red" })).to).toBe("local");
    expect(routeRequest(p, req("/v2/a", { "x-team": "green" }))).toEqual({ to: "none" });
    const o = routeRequest(p, req("/orders/12"));
    expect(o.to === "local" && o.bridge.name).toBe("orders");
    expect(routeRequest(p, req("/orders/12x")).to).toBe("none");
  });

  it("a global bridge takes the whole port, also for raw connections", () => {
    const p = compilePort({ ports: [{ port: 5432, mode: "tcp", bridges: [{ name: "g", local: A }] }] });
    expect(routeConnection(p)).toMatchObject({ to: "local", destination: A });
    expect(routeRequest(p, req("/anything"))).toMatchObject({ to: "local", destination: A });
  });

  it.each([
    ["identical sets", [{ kind: "header", name: "x-user", op: "exact", value: "alice" }], [{ kind: "header", name: "X-User", op: "exact", value: "alice" }]],
    ["subset", [{ kind: "header", name: "x-user", op: "exact", value: "alice" }], [{ kind: "header", name: "x-user", op: "exact", value: "alice" }, { kind: "path", op: "prefix", value: "/v2" }]],
    ["prefix covers exact", [{ kind: "path", op: "prefix", value: "/api" }], [{ kind: "path", op: "exact", value: "/api/users" }]],
    ["regex accepts exact", [{ kind: "header", name: "x-user", op: "regex", value: "^a" }], [{ kind: "header", name: "x-user", op: "exact", value: "alice" }]],
    ["global", [], [{ kind: "path", op: "prefix", value: "/" }]],
  ] as const)("refuses overlapping bridges (%s), naming the other bridge", (_, first, second) => {
    const r = compileRouteTable({
      ports: [{ port: 80, original: O, bridges: [{ name: "alice", local: A, match: first }, { name: "bob", local: B, match: second }] }],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("ROUTES_OVERLAP");
    expect(r.error.message).toContain('"alice"');
    expect(r.error.message).toContain('"bob"');
    expect(r.error.bridges).toEqual(["bob", "alice"]);
  });

  it("allows bridges that can both match one request but do not contain each other", () => {
    const r = compileRouteTable({
      ports: [
        {
          port: 80,
          bridges: [
            { name: "alice", local: A, match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] },
            { name: "v2", local: B, match: [{ kind: "path", op: "prefix", value: "/v2" }] },
          ],
        },
      ],
    });
    expect(r.ok).toBe(true);
  });

  it("refuses unsafe regexes, duplicate names, bad fields and rules on tcp ports with one line each", () => {
    const unsafe = compileRouteTable({ ports: [{ port: 80, bridges: [{ name: "a", local: A, match: [{ kind: "path", op: "regex", value: "(a)\\1" }] }] }] });
    expect(!unsafe.ok && unsafe.error.code).toBe("ROUTES_UNSAFE_REGEX");
    expect(!unsafe.ok && unsafe.error.message).toMatch(/bridge "a" on port 80: regex .* is refused: backreferences/);
    const dup = compileRouteTable({ ports: [{ port: 80, bridges: [{ name: "a", local: A, match: [{ kind: "path", op: "exact", value: "/x" }] }, { name: "a", local: B, match: [{ kind: "path", op: "exact", value: "/y" }] }] }] });
    expect(!dup.ok && dup.error.message).toMatch(/appears twice on port 80/);
    const bad = compileRouteTable({ ports: [{ port: 0 }] });
    expect(!bad.ok && bad.error.message).toMatch(/invalid at ports\.0\.port/);
    const tcp = compileRouteTable({ ports: [{ port: 80, mode: "tcp", bridges: [{ name: "a", local: A, match: [{ kind: "path", op: "exact", value: "/x" }] }] }] });
    expect(!tcp.ok && tcp.error.message).toMatch(/tcp mode/);
  });
});
