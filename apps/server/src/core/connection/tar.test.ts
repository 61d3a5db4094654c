import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tar } from "./tar";

describe("tar", () => {
  it("writes archives GNU tar extracts with modes", () => {
    const dir = mkdtempSync(join(tmpdir(), "gts-tar-"));
    const archive = tar([
      { path: "etc/cargo/env", content: "A=1\n", mode: 0o600 },
      { path: "etc/cargo/ca.crt", content: Buffer.alloc(700, 65) },
    ]);
    execFileSync("tar", ["-x", "-C", dir], { input: archive });
    expect(readFileSync(join(dir, "etc/cargo/env"), "utf8")).toBe("A=1\n");
    expect(statSync(join(dir, "etc/cargo/env")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "etc/cargo/ca.crt")).length).toBe(700);
  });
});
