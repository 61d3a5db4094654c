/**
 * Errors are values with a user-facing one-line sentence: what failed, where, and what to do.
 * Every face (dashboard, CLI, tests) shows `message` as is; `code` is stable for scripts
 * (CLI `--json`, tRPC `error.data.gefyra.code`); `cause` keeps the underlying error for logs.
 */
export class GefyraError extends Error {
  override readonly name = "GefyraError";
  /** Stable, SCREAMING_SNAKE identifier, e.g. "KUBECONFIG_INVALID", "STORE_CORRUPT". */
  readonly code: string;
  /** Optional context such as { context, namespace, object } for the UI to show beside the sentence. */
  readonly details: Readonly<Record<string, string>> | undefined;

  constructor(code: string, message: string, options?: { cause?: unknown; details?: Record<string, string> }) {
    super(oneLine(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  toJSON(): { code: string; message: string; details?: Record<string, string> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: { ...this.details } } : {}) };
  }
}

export function isGefyraError(value: unknown): value is GefyraError {
  return value instanceof GefyraError;
}

/** Wrap anything thrown into a GefyraError; `fallback` is the sentence used for unknown errors. */
export function toGefyraError(value: unknown, code = "INTERNAL", fallback?: string): GefyraError {
  if (value instanceof GefyraError) return value;
  const reason = describeCause(value);
  return new GefyraError(code, fallback ? `${fallback} (${reason})` : reason, { cause: value });
}

/** A short, single-line description of an unknown thrown value. */
export function describeCause(value: unknown): string {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    const text = value.message || value.name;
    return typeof code === "string" && !text.includes(code) ? `${code}: ${text}` : text;
  }
  return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}
