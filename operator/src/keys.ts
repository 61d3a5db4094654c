/** WireGuard keys (X25519) with node:crypto: raw 32-byte keys, base64 as `wg genkey`/`wg pubkey` print them. */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";

export interface WireGuardKeyPair {
  privateKey: string;
  publicKey: string;
}

export function generateKeyPair(): WireGuardKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const priv = privateKey.export({ format: "jwk" }).d;
  const pub = publicKey.export({ format: "jwk" }).x;
  if (!priv || !pub) throw new Error("x25519 key export failed");
  return { privateKey: base64urlToBase64(priv), publicKey: base64urlToBase64(pub) };
}

/** The public key of a base64 private key (what `wg pubkey` does). */
export function publicKeyOf(privateKeyBase64: string): string {
  const d = Buffer.from(privateKeyBase64, "base64");
  if (d.length !== 32) throw new Error("a WireGuard private key is 32 bytes");
  const key = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: d.toString("base64url"), x: "" }, format: "jwk" });
  const x = createPublicKey(key).export({ format: "jwk" }).x;
  if (!x) throw new Error("x25519 public key export failed");
  return base64urlToBase64(x);
}

export function isWireGuardKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/.test(text) && Buffer.from(text, "base64").length === 32;
}

function base64urlToBase64(text: string): string {
  return Buffer.from(text, "base64url").toString("base64");
}
