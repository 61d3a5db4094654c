/** Profiles in the local store: save, list, export and all-or-nothing import. */
import type { Store } from "../../store";
import { GefyraError } from "../errors";
import { PersonalSchema, ProfileSpecSchema, formatProfiles, parseProfiles, type ProfileFile, PROFILE_API_VERSION, PROFILE_KIND } from "./profile-file";

interface StoredSpec {
  spec: unknown;
  personal?: unknown;
  /** Per context, the cluster version last pulled or published (shared.ts); kept across local saves. */
  shared?: unknown;
}

async function sharedOf(store: Store, name: string): Promise<{ shared?: unknown }> {
  const row = await store.prisma.profile.findUnique({ where: { name }, select: { spec: true } });
  const shared = row ? (JSON.parse(row.spec) as StoredSpec).shared : undefined;
  return shared === undefined ? {} : { shared };
}

function fromStore(row: { name: string; description: string | null; spec: string }): ProfileFile {
  const stored = JSON.parse(row.spec) as StoredSpec;
  return {
    apiVersion: PROFILE_API_VERSION,
    kind: PROFILE_KIND,
    metadata: { name: row.name, ...(row.description ? { description: row.description } : {}) },
    spec: ProfileSpecSchema.parse(stored.spec),
    ...(stored.personal ? { personal: PersonalSchema.parse(stored.personal) } : {}),
  };
}

export async function listProfiles(store: Store): Promise<ProfileFile[]> {
  return (await store.listProfiles()).map(fromStore);
}

export async function saveProfile(store: Store, profile: ProfileFile): Promise<void> {
  await store.saveProfile({
    name: profile.metadata.name,
    description: profile.metadata.description ?? null,
    spec: { spec: profile.spec, ...(profile.personal ? { personal: profile.personal } : {}), ...(await sharedOf(store, profile.metadata.name)) },
  });
}

export async function exportProfiles(store: Store, names: readonly string[] = [], options: { personal?: boolean } = {}): Promise<string> {
  const all = await listProfiles(store);
  const missing = names.filter((n) => !all.some((p) => p.metadata.name === n));
  if (missing.length) throw new GefyraError("PROFILE_NOT_FOUND", `no profile named ${missing.join(", ")}: see gefyra profiles list`);
  const chosen = names.length ? all.filter((p) => names.includes(p.metadata.name)) : all;
  return formatProfiles(chosen, options);
}

/**
 * Imports every profile of a file or none: validation first (all problems reported with line and
 * field), then name clashes (unless replace), then one transaction.
 */
export async function importProfiles(store: Store, text: string, options: { file?: string; replace?: boolean } = {}): Promise<string[]> {
  const profiles = parseProfiles(text, options.file);
  if (!options.replace) {
    const existing = new Set((await store.listProfiles()).map((p) => p.name));
    const clashes = profiles.map((p) => p.metadata.name).filter((n) => existing.has(n));
    if (clashes.length) {
      throw new GefyraError("PROFILE_EXISTS", `profile ${clashes.join(", ")} already exists: import with --replace or rename it in the file; nothing was imported`);
    }
  }
  const kept = new Map(await Promise.all(profiles.map(async (p) => [p.metadata.name, await sharedOf(store, p.metadata.name)] as const)));
  await store.prisma.$transaction(
    profiles.map((p) => {
      const data = {
        description: p.metadata.description ?? null,
        spec: JSON.stringify({ spec: p.spec, ...(p.personal ? { personal: p.personal } : {}), ...kept.get(p.metadata.name) }),
      };
      return store.prisma.profile.upsert({ where: { name: p.metadata.name }, create: { name: p.metadata.name, ...data }, update: data });
    }),
  );
  return profiles.map((p) => p.metadata.name);
}
