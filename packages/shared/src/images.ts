/** Image references of the product: every one configurable, defaulting to gefyra-ts/<name>:<version>. */
import { IMAGE_NAMES, type ImageName } from "./constants";

export interface ImageSettings {
  /** Registry/prefix, e.g. "registry.example.com/team" (default "gefyra-ts"). */
  registry?: string;
  /** Tag for every image (default: the product version). */
  tag?: string;
  /** Full references that win over registry+tag, per image. */
  overrides?: Partial<Record<ImageName, string>>;
}

export type ImageRefs = Record<ImageName, string>;

export function resolveImages(version: string, settings: ImageSettings = {}): ImageRefs {
  const registry = (settings.registry ?? "gefyra-ts").replace(/\/+$/, "");
  const tag = settings.tag ?? version;
  const refs = {} as ImageRefs;
  for (const name of IMAGE_NAMES) refs[name] = settings.overrides?.[name] ?? `${registry}/${name}:${tag}`;
  return refs;
}
