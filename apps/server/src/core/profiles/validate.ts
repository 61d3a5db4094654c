/**
 * A profile typed in a form (the dashboard) checked against the same schema as files, with every
 * problem named by its field, so the form can show the schema's own message beside the field.
 */
import { ProfileFileSchema, fieldPath, type ProfileFile, type ProfileProblem } from "./profile-file";

export type ProfileCheck = { ok: true; profile: ProfileFile } | { ok: false; problems: ProfileProblem[] };

export function checkProfile(value: unknown): ProfileCheck {
  const parsed = ProfileFileSchema.safeParse(value);
  if (parsed.success) return { ok: true, profile: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => {
      const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0] ?? ""] : issue.path;
      return { field: fieldPath(path), message: issue.code === "unrecognized_keys" ? `unknown field (${issue.keys.join(", ")})` : issue.message };
    }),
  };
}
