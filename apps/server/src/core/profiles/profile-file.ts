/**
 * Bridge profiles as YAML files: a versioned schema, export, and import that is all or nothing.
 *
 * A profile is a saved bridge setup. `spec` holds what a team shares (target, ports, rules, image,
 * env-from, env, published ports); `personal` holds what only makes sense on one machine (a build
 * context or volume paths) and is exported only on request. Invalid files are rejected with the
 * file's line and the field at fault, for every problem at once.
 */
import { z } from "zod";
import { LineCounter, parseAllDocuments, stringify, isNode, type Document } from "yaml";
import { MatchSchema } from "@gefyra/shared/rules";
import { GefyraError } from "../errors";
import { parseWorkloadRef } from "../run/workload";
import { parsePort } from "../run/local-container";

export const PROFILE_API_VERSION = "gefyra-ts.dev/v1alpha1";
export const PROFILE_KIND = "BridgeProfile";

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a lowercase DNS label (letters, digits, '-'; at most 63)");
const port = z.number().int().min(1, "must be a port number 1..65535").max(65535, "must be a port number 1..65535");
const valid = (check: (text: string) => unknown, message: string) =>
  z.string().refine((text) => {
    try {
      check(text);
      return true;
    } catch {
      return false;
    }
  }, message);

export const ProfileSpecSchema = z
  .object({
    target: z
      .object({
        namespace: dnsLabel,
        workload: valid(parseWorkloadRef, "must be deploy/NAME[/CONTAINER], statefulset/NAME[/CONTAINER] or pod/NAME[/CONTAINER]"),
      })
      .strict(),
    ports: z.array(z.object({ remote: port, local: port }).strict()).min(1, "needs at least one port"),
    rules: z.array(MatchSchema).default([]),
    local: z
      .object({
        image: z.string().min(1).optional(),
        envFrom: valid(parseWorkloadRef, "must be deploy/NAME[/CONTAINER], statefulset/NAME[/CONTAINER] or pod/NAME[/CONTAINER]").optional(),
        env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "is not an environment variable name"), z.string()).default({}),
        ports: z.array(valid(parsePort, "must be HOST:CONTAINER, e.g. 8080:80")).default([]),
      })
      .strict()
      .default({ env: {}, ports: [] }),
  })
  .strict();

export const PersonalSchema = z
  .object({
    build: z.string().min(1).optional(),
    volumes: z.array(z.string().regex(/^[^:]+:\/[^:]*(:(ro|rw))?$/, "must be HOST_PATH:CONTAINER_PATH[:ro]")).default([]),
  })
  .strict();

export const ProfileFileSchema = z
  .object({
    apiVersion: z.literal(PROFILE_API_VERSION, { message: `must be ${PROFILE_API_VERSION}` }),
    kind: z.literal(PROFILE_KIND, { message: `must be ${PROFILE_KIND}` }),
    metadata: z.object({ name: dnsLabel, description: z.string().max(2000).optional() }).strict(),
    spec: ProfileSpecSchema,
    personal: PersonalSchema.optional(),
  })
  .strict();

export type ProfileSpec = z.infer<typeof ProfileSpecSchema>;
export type Personal = z.infer<typeof PersonalSchema>;
export type ProfileFile = z.infer<typeof ProfileFileSchema>;

export interface ProfileProblem {
  /** 1-based line in the file, when known. */
  line?: number;
  /** Dotted field path, e.g. spec.ports[0].remote. */
  field: string;
  message: string;
}

/** A zod issue path as text: spec.ports[0].remote. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), "");
}

/** The line of the deepest node that exists along `path` (an unknown key points at its parent). */
function lineOf(doc: Document, counter: LineCounter, path: ReadonlyArray<PropertyKey>): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Parses one or more YAML documents; throws one GefyraError listing every problem, or returns all profiles. */
export function parseProfiles(text: string, file = "profile"): ProfileFile[] {
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false });
  const problems: ProfileProblem[] = [];
  const profiles: ProfileFile[] = [];
  if (!Array.isArray(docs)) throw new GefyraError("PROFILE_INVALID", `${file}: not a YAML document stream`);
  docs.forEach((doc, index) => {
    const prefix = docs.length > 1 ? `document ${index + 1}: ` : "";
    for (const e of doc.errors) {
      problems.push({ line: counter.linePos(e.pos[0]).line, field: "(yaml)", message: prefix + e.message.split("\n")[0] });
    }
    if (doc.errors.length) return;
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // an empty document between separators
    const parsed = ProfileFileSchema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0] ?? ""] : issue.path;
        const message = issue.code === "unrecognized_keys" ? `unknown field (${issue.keys.join(", ")})` : issue.message;
        problems.push({ line: lineOf(doc, counter, path), field: fieldPath(path), message: prefix + message });
      }
      return;
    }
    profiles.push(parsed.data);
  });
  const names = new Set<string>();
  for (const p of profiles) {
    if (names.has(p.metadata.name)) problems.push({ field: "metadata.name", message: `profile ${p.metadata.name} appears twice in the file` });
    names.add(p.metadata.name);
  }
  if (problems.length) {
    const first = problems[0];
    const where = (p: ProfileProblem) => `${file}${p.line ? `:${p.line}` : ""}: ${p.field}: ${p.message}`;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1).map(where).join("; ")})` : "";
    throw new GefyraError("PROFILE_INVALID", `${first ? where(first) : file}${more}; nothing was imported`, { details: { file } });
  }
  if (!profiles.length) throw new GefyraError("PROFILE_INVALID", `${file}: no profile in the file; nothing was imported`);
  return profiles;
}

/** YAML for one or more profiles; `personal` only when asked (it holds local paths). */
export function formatProfiles(profiles: readonly ProfileFile[], options: { personal?: boolean } = {}): string {
  return profiles
    .map((p) => {
      const { personal, ...shared } = p;
      return stringify(options.personal && personal ? { ...shared, personal } : shared, { lineWidth: 0 });
    })
    .join("---\n");
}
