/**
 * The profile form: text fields as people type them (one port or variable per line) turned into
 * a profile file for the server, which checks it with the same schema as YAML files; the schema's
 * problems (spec.ports[0].remote, personal.volumes[1], ...) are shown beside the field they name.
 * Only what the schema cannot see (a line that is not REMOTE:LOCAL or KEY=VALUE) is checked here.
 */
import { toMatch, type RuleDraft } from "./rules";
import type { ProfileFile } from "./types";

export interface ProfileDraft {
  name: string;
  description: string;
  namespace: string;
  /** deploy/NAME[/CONTAINER] */
  workload: string;
  /** REMOTE:LOCAL (or PORT) per line */
  ports: string;
  rules: RuleDraft[];
  image: string;
  envFrom: string;
  /** KEY=VALUE per line */
  env: string;
  /** HOST:CONTAINER per line, as gefyra run -p */
  published: string;
  /** personal */
  build: string;
  /** personal: HOST_PATH:CONTAINER_PATH[:ro] per line */
  volumes: string;
}

export type FormField = "name" | "description" | "namespace" | "workload" | "ports" | "rules" | "image" | "envFrom" | "env" | "published" | "build" | "volumes" | "form";

export interface FieldProblem {
  field: FormField;
  message: string;
}

const lines = (text: string): string[] =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

export function emptyDraft(namespace = ""): ProfileDraft {
  return { name: "", description: "", namespace, workload: "", ports: "", rules: [], image: "", envFrom: "", env: "", published: "", build: "", volumes: "" };
}

export function draftFromProfile(p: ProfileFile): ProfileDraft {
  return {
    name: p.metadata.name,
    description: p.metadata.description ?? "",
    namespace: p.spec.target.namespace,
    workload: p.spec.target.workload,
    ports: p.spec.ports.map((x) => `${x.remote}:${x.local}`).join("\n"),
    rules: p.spec.rules.map((m) => (m.kind === "header" ? { kind: "header", name: m.name, op: m.op, value: m.value } : { kind: "path", name: "", op: m.op, value: m.value })),
    image: p.spec.local.image ?? "",
    envFrom: p.spec.local.envFrom ?? "",
    env: Object.entries(p.spec.local.env)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
    published: p.spec.local.ports.join("\n"),
    build: p.personal?.build ?? "",
    volumes: (p.personal?.volumes ?? []).join("\n"),
  };
}

/** The draft as a profile file (unchecked: the server's schema has the last word), and the line-format problems found on the way. */
export function profileFromDraft(d: ProfileDraft): { profile: unknown; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const ports = lines(d.ports).map((line) => {
    const m = /^(\d+)(?::(\d+))?$/.exec(line);
    if (!m) {
      problems.push({ field: "ports", message: `"${line}" is not REMOTE:LOCAL: write e.g. 8080:8080 (the workload's port, then your container's)` });
      return { remote: 0, local: 0 };
    }
    return { remote: Number(m[1]), local: Number(m[2] ?? m[1]) };
  });
  const env: Record<string, string> = {};
  for (const line of lines(d.env)) {
    const eq = line.indexOf("=");
    if (eq <= 0) problems.push({ field: "env", message: `"${line}" is not KEY=VALUE: write one variable per line, e.g. LOG_LEVEL=debug` });
    else env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const volumes = lines(d.volumes);
  const build = d.build.trim();
  const profile = {
    apiVersion: "gefyra-ts.dev/v1alpha1",
    kind: "BridgeProfile",
    metadata: { name: d.name.trim(), ...(d.description.trim() ? { description: d.description.trim() } : {}) },
    spec: {
      target: { namespace: d.namespace.trim(), workload: d.workload.trim() },
      ports,
      rules: d.rules.map(toMatch),
      local: {
        ...(d.image.trim() ? { image: d.image.trim() } : {}),
        ...(d.envFrom.trim() ? { envFrom: d.envFrom.trim() } : {}),
        env,
        ports: lines(d.published),
      },
    },
    ...(build || volumes.length ? { personal: { ...(build ? { build } : {}), volumes } } : {}),
  };
  return { profile, problems };
}

/** The form field a schema problem's path belongs to. */
export function fieldOf(path: string): FormField {
  const rules: Array<[RegExp, FormField]> = [
    [/^metadata\.name/, "name"],
    [/^metadata\.description/, "description"],
    [/^spec\.target\.namespace/, "namespace"],
    [/^spec\.target\.workload/, "workload"],
    [/^spec\.ports/, "ports"],
    [/^spec\.rules/, "rules"],
    [/^spec\.local\.image/, "image"],
    [/^spec\.local\.envFrom/, "envFrom"],
    [/^spec\.local\.env/, "env"],
    [/^spec\.local\.ports/, "published"],
    [/^personal\.build/, "build"],
    [/^personal\.volumes/, "volumes"],
  ];
  return rules.find(([re]) => re.test(path))?.[1] ?? "form";
}

/** Problems by field, each message once; a port or rule problem says which line or rule it is about. */
export function problemsByField(problems: Array<{ field: string; message: string }>): Partial<Record<FormField, string[]>> {
  const out: Partial<Record<FormField, string[]>> = {};
  for (const p of problems) {
    const field = fieldOf(p.field);
    const index = /\[(\d+)\]/.exec(p.field)?.[1];
    const where =
      index !== undefined && (field === "ports" || field === "published" || field === "volumes")
        ? `line ${Number(index) + 1}: `
        : index !== undefined && field === "rules"
          ? `rule ${Number(index) + 1}: `
          : field === "env" && /^spec\.local\.env\./.test(p.field)
            ? `${p.field.slice("spec.local.env.".length)}: `
            : field === "form"
              ? `${p.field}: `
              : "";
    const text = `${where}${p.message}`;
    const list = (out[field] ??= []);
    if (!list.includes(text)) list.push(text);
  }
  return out;
}
