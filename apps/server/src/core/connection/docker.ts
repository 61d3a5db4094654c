/** The local side in Docker: the per-connection network and the Cargo container (dockerode; honours DOCKER_HOST). */
import Docker from "dockerode";
import { PassThrough } from "node:stream";
import { DOCKER_SUBNET_POOLS, PART_OF, PART_OF_LABEL, CONNECTION_LABEL, chooseFreeSubnet, nthAddress, parseCidr } from "@gefyra/shared";
import { GefyraError, describeCause } from "../errors";

export const LOCAL_LABEL_COMPONENT = "gefyra-ts.dev/component";

export async function connectDocker(docker?: Docker): Promise<Docker> {
  const d = docker ?? new Docker();
  try {
    await d.ping();
  } catch (cause) {
    const where = process.env.DOCKER_HOST ? `DOCKER_HOST=${process.env.DOCKER_HOST}` : "/var/run/docker.sock";
    throw new GefyraError("DOCKER_UNAVAILABLE", `Docker is not running or not reachable at ${where} (${describeCause(cause)}): start Docker (or set DOCKER_HOST) and retry.`, { cause });
  }
  return d;
}

export async function imagePresent(docker: Docker, ref: string): Promise<boolean> {
  return docker
    .getImage(ref)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

/** Subnets already used by Docker networks (IPv4 only). */
export async function dockerSubnets(docker: Docker): Promise<string[]> {
  const nets = await docker.listNetworks();
  return nets.flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? "")).filter((s) => s && !s.includes(":"));
}

export interface CargoNetwork {
  name: string;
  subnet: string;
  gateway: string;
  cargoIp: string;
}

export async function createNetwork(docker: Docker, name: string, connection: string, avoid: string[]): Promise<CargoNetwork> {
  const existing = await docker
    .getNetwork(name)
    .inspect()
    .catch(() => undefined);
  if (existing) {
    const subnet = existing.IPAM?.Config?.[0]?.Subnet;
    if (subnet) return networkInfo(name, subnet);
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const subnet = chooseFreeSubnet(DOCKER_SUBNET_POOLS, [...(await dockerSubnets(docker)), ...avoid]);
    if (!subnet) throw new GefyraError("NO_FREE_SUBNET", `No free /24 for Docker network ${name} in ${DOCKER_SUBNET_POOLS.join(", ")}: remove unused Docker networks (docker network prune).`);
    const info = networkInfo(name, subnet);
    const c = parseCidr(subnet);
    try {
      await docker.createNetwork({
        Name: name,
        Driver: "bridge",
        CheckDuplicate: true,
        Labels: { [PART_OF_LABEL]: PART_OF, [CONNECTION_LABEL]: connection },
        IPAM: { Driver: "default", Config: [{ Subnet: subnet, Gateway: info.gateway, IPRange: `${nthAddress(c, 128)}/25` }] },
      });
      return info;
    } catch (error) {
      // another network took the subnet between our look and our create: pick again
      if (/overlap|already exists/i.test(describeCause(error)) && attempt < 4) {
        if (/already exists/i.test(describeCause(error))) return createNetwork(docker, name, connection, avoid);
        continue;
      }
      throw new GefyraError("DOCKER_NETWORK", `Could not create Docker network ${name} (${describeCause(error)}): check docker network ls.`, { cause: error });
    }
  }
  throw new GefyraError("DOCKER_NETWORK", `Could not create Docker network ${name}: check docker network ls.`);
}

function networkInfo(name: string, subnet: string): CargoNetwork {
  const c = parseCidr(subnet);
  return { name, subnet, gateway: nthAddress(c, 1), cargoIp: nthAddress(c, 2) };
}

/** Removes a network, disconnecting whatever is still attached to it first. */
export async function removeNetwork(docker: Docker, name: string): Promise<boolean> {
  const net = docker.getNetwork(name);
  const info = await net.inspect().catch(() => undefined);
  if (!info) return false;
  for (const id of Object.keys((info.Containers ?? {}))) {
    await net.disconnect({ Container: id, Force: true }).catch(() => undefined);
  }
  await net.remove().catch((e: unknown) => {
    if (!/not found|no such/i.test(describeCause(e))) throw e;
  });
  return true;
}

export async function removeContainer(docker: Docker, name: string): Promise<boolean> {
  const c = docker.getContainer(name);
  const info = await c.inspect().catch(() => undefined);
  if (!info) return false;
  await c.remove({ force: true, v: true }).catch((e: unknown) => {
    if (!/not found|no such|already in progress/i.test(describeCause(e))) throw e;
  });
  return true;
}

/** Runs a command in a container; resolves with { code, stdout, stderr }. */
export async function dockerExec(docker: Docker, container: string, cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (c: Buffer) => (stdout += c.toString()));
  err.on("data", (c: Buffer) => (stderr += c.toString()));
  docker.modem.demuxStream(stream, out, err);
  await new Promise<void>((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", reject);
  });
  const inspected = await exec.inspect();
  return { code: inspected.ExitCode ?? -1, stdout, stderr };
}
