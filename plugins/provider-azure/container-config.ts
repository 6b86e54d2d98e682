// An azure.container's configuration, checked beyond what the schema's types
// say, by Azure's own rules (container names; metadata names are C#
// identifiers, values travel as HTTP headers, 8 KiB in all). Every problem is
// CONFIG_INVALID naming the resource and the field, found at plan time rather
// than half-way through an apply.
import { ErrorCode, type JsonObject, type JsonValue, WfctlError } from "../sdk/index.js";

export const PUBLIC_ACCESS = ["none", "blob", "container"] as const;
export type PublicAccess = (typeof PUBLIC_ACCESS)[number];

/** What an azure.container's configuration asks for. */
export interface ContainerSpec {
  name: string;
  publicAccess: PublicAccess;
  metadata: Record<string, string>;
  forceDestroy: boolean;
}

// 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;
// A C# identifier (without the @ escape or Unicode letters: the name travels as an HTTP header).
const METADATA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Visible ASCII and inner spaces: HTTP would refuse other bytes and trim outer blanks, and an empty value is not kept.
const METADATA_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
/** Azure's limit on all names and values of one container together. */
const METADATA_MAX_BYTES = 8 * 1024;

function invalid(what: string, field: string, message: string): WfctlError {
  return new WfctlError(ErrorCode.CONFIG_INVALID, `${what}: field "${field}" ${message}`, { details: [{ field, message }] });
}

function containerName(value: JsonValue | undefined, what: string): string {
  if (typeof value !== "string" || !CONTAINER_NAME.test(value)) {
    throw invalid(what, "name", `must be a container name (3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit), got ${JSON.stringify(value)}`);
  }
  return value;
}

function publicAccess(value: JsonValue | undefined, what: string): PublicAccess {
  const found = PUBLIC_ACCESS.find((level) => level === (value ?? "none"));
  if (found === undefined) throw invalid(what, "public_access", `must be one of ${PUBLIC_ACCESS.map((l) => `"${l}"`).join(", ")}, got ${JSON.stringify(value)}`);
  return found;
}

function metadata(value: JsonValue | undefined, what: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(what, "metadata", "must be a map of names to strings");
  const out: Record<string, string> = {};
  const seen = new Map<string, string>();
  let bytes = 0;
  for (const [name, item] of Object.entries(value)) {
    const field = `metadata.${name}`;
    if (!METADATA_NAME.test(name)) {
      throw invalid(what, field, "has a name Azure refuses: metadata names must be C# identifiers (a letter or _, then letters, digits and _)");
    }
    const twin = seen.get(name.toLowerCase());
    if (twin !== undefined) throw invalid(what, field, `names the same entry as "${twin}": Azure metadata names ignore case`);
    seen.set(name.toLowerCase(), name);
    if (typeof item !== "string") throw invalid(what, field, `must be a string, got ${JSON.stringify(item)}`);
    if (!METADATA_VALUE.test(item)) {
      throw invalid(what, field, "must be non-empty printable ASCII without leading or trailing blanks (metadata travels as HTTP headers; Azure drops empty values)");
    }
    bytes += name.length + item.length;
    out[name] = item;
  }
  if (bytes > METADATA_MAX_BYTES) throw invalid(what, "metadata", `is ${bytes} bytes of names and values; Azure allows ${METADATA_MAX_BYTES}`);
  return out;
}

/** The checked configuration (defaults already filled in by the SDK). */
export function containerSpec(config: JsonObject, what: string): ContainerSpec {
  const forceDestroy = config["force_destroy"];
  return {
    name: containerName(config["name"], what),
    publicAccess: publicAccess(config["public_access"], what),
    metadata: metadata(config["metadata"], what),
    forceDestroy: forceDestroy === true,
  };
}

/** Whether two metadata maps are the same to Azure (names compared without case). */
export function sameMetadata(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const lower = (m: Readonly<Record<string, string>>) => new Map(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]));
  const [x, y] = [lower(a), lower(b)];
  return x.size === y.size && [...x].every(([k, v]) => y.get(k) === v);
}

/**
 * Metadata as the service returned it, with each name spelled as `recorded`
 * spells it: Azure keeps names without regard to case (and HTTP may lower
 * them), so "Team" read back as "team" is not drift.
 */
export function spelledAs(observed: Readonly<Record<string, string>>, recorded: JsonValue | undefined): Record<string, string> {
  const spelling = new Map<string, string>();
  if (recorded && typeof recorded === "object" && !Array.isArray(recorded)) for (const name of Object.keys(recorded)) spelling.set(name.toLowerCase(), name);
  return Object.fromEntries(Object.entries(observed).map(([name, value]) => [spelling.get(name.toLowerCase()) ?? name, value]));
}
