import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { generateKeyPair, isWireGuardKey, publicKeyOf } from "./keys";

describe("WireGuard keys from node:crypto", () => {
  it("are 32-byte base64 keys whose public half matches", () => {
    const pair = generateKeyPair();
    expect(isWireGuardKey(pair.privateKey)).toBe(true);
    expect(isWireGuardKey(pair.publicKey)).toBe(true);
    expect(publicKeyOf(pair.privateKey)).toBe(pair.publicKey);
    expect(generateKeyPair().privateKey).not.toBe(pair.privateKey);
  });

  it("agree with wg pubkey when wireguard-tools is installed", () => {
    const pair = generateKeyPair();
    let wg: string | undefined;
    try {
      wg = execFileSync("wg", ["pubkey"], { input: `${pair.privateKey}\n` }).toString().trim();
    } catch {
      return; // no wg binary here: the node:crypto round trip above still holds
    }
    expect(wg).toBe(pair.publicKey);
  });
});
