import { describe, expect, it } from "vitest";
import { allocateAddress, chooseFreeSubnet, cidrsOverlap, formatCidr, parseCidr, serviceCidrFromError, stowawayAddress } from "./cidr";

describe("cidr", () => {
  it("normalises and formats", () => {
    expect(formatCidr(parseCidr("10.96.3.7/16"))).toBe("10.96.0.0/16");
    expect(formatCidr(parseCidr("1.2.3.4"))).toBe("1.2.3.4/32");
    expect(() => parseCidr("10.0.0.0/33")).toThrow();
    expect(() => parseCidr("300.0.0.0/8")).toThrow();
  });

  it("detects overlaps in both directions", () => {
    expect(cidrsOverlap(parseCidr("10.0.0.0/8"), parseCidr("10.96.0.0/16"))).toBe(true);
    expect(cidrsOverlap(parseCidr("10.96.0.0/16"), parseCidr("10.0.0.0/8"))).toBe(true);
    expect(cidrsOverlap(parseCidr("10.96.0.0/16"), parseCidr("10.97.0.0/16"))).toBe(false);
  });

  it("chooses the first /24 that overlaps nothing taken", () => {
    expect(chooseFreeSubnet(["172.30.0.0/16"], ["172.30.0.0/24", "172.30.1.0/24"])).toBe("172.30.2.0/24");
    // a taken /16 skips the whole pool
    expect(chooseFreeSubnet(["172.30.0.0/16", "10.213.0.0/16"], ["172.16.0.0/12"])).toBe("10.213.0.0/24");
    // a /32 (the endpoint) inside a candidate blocks that candidate only
    expect(chooseFreeSubnet(["192.168.0.0/23"], ["192.168.0.9/32"])).toBe("192.168.1.0/24");
    expect(chooseFreeSubnet(["192.168.0.0/24"], ["192.168.0.0/16"])).toBeUndefined();
  });

  it("allocates peer addresses after Stowaway's and never the broadcast", () => {
    expect(stowawayAddress("192.168.213.0/24")).toBe("192.168.213.1/24");
    expect(allocateAddress("192.168.213.0/24", [])).toBe("192.168.213.2");
    expect(allocateAddress("192.168.213.0/24", ["192.168.213.2", "192.168.213.3/32"])).toBe("192.168.213.4");
    expect(allocateAddress("10.0.0.0/30", ["10.0.0.2"])).toBeUndefined();
  });

  it("parses the service range out of the API server's refusal", () => {
    const msg = 'Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 10.96.0.0/16';
    expect(serviceCidrFromError(msg)).toEqual(["10.96.0.0/16"]);
    expect(serviceCidrFromError("nothing here")).toEqual([]);
  });
});
