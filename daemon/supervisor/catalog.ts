// Which plugins the daemon can start, by name. For now the catalog holds the
// plugins shipped with wfctl; user-declared plugins (manifest + lockfile) add
// entries here.
import { join } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { CORE_BACKENDS } from "../../proto/state-store.js";
import { PACKAGE_ROOT } from "../../proto/versions.js";

export type PluginKind = "provider" | "state_backend";

/** How to start one plugin. */
export interface PluginSpec {
  /** The name configuration uses (an iac.provider's `provider:`, an iac.state's `backend:`). */
  name: string;
  kind: PluginKind;
  /** Executable to spawn. */
  executable: string;
  /** Arguments passed to it. */
  args: readonly string[];
  /** Extra environment for the process (merged over the daemon's own). */
  env: Readonly<Record<string, string>>;
  /** Where the entry came from, for messages: "builtin", a manifest path. */
  source: string;
  /** What .wfctl-lock.yaml pins (project plugins only): checked before every spawn. */
  pinned?: PluginPin;
}

export interface PluginPin {
  /** The file hashed: the executable, or the script run with node. */
  path: string;
  sha256: string;
  /** The version the plugin must report ("" = any). */
  version: string;
  lockfile: string;
}

/** The plugins shipped in this package. */
export function builtinPlugins(root: string = PACKAGE_ROOT): PluginSpec[] {
  return [
    {
      name: "local",
      kind: "provider",
      executable: join(root, "plugins", "provider-local", "bin", "wfctl-provider-local.js"),
      args: [],
      env: {},
      source: "builtin",
    },
    {
      name: "postgres",
      kind: "provider",
      executable: join(root, "plugins", "provider-postgres", "bin", "wfctl-provider-postgres.js"),
      args: [],
      env: {},
      source: "builtin",
    },
    // Bucket providers, each its own plugin with its cloud SDK.
    {
      name: "s3",
      kind: "provider",
      executable: join(root, "plugins", "provider-s3", "bin", "wfctl-provider-s3.js"),
      args: [],
      env: {},
      source: "builtin",
    },
    {
      name: "gcs",
      kind: "provider",
      executable: join(root, "plugins", "provider-gcs", "bin", "wfctl-provider-gcs.js"),
      args: [],
      env: {},
      source: "builtin",
    },
    {
      name: "azure",
      kind: "provider",
      executable: join(root, "plugins", "provider-azure", "bin", "wfctl-provider-azure.js"),
      args: [],
      env: {},
      source: "builtin",
    },
    // State backends shipped with wfctl, each its own plugin with its cloud SDK.
    {
      name: "s3",
      kind: "state_backend",
      executable: join(root, "plugins", "state-s3", "bin", "wfctl-state-s3.js"),
      args: [],
      env: {},
      source: "builtin",
    },
    {
      name: "gcs",
      kind: "state_backend",
      executable: join(root, "plugins", "state-gcs", "bin", "wfctl-state-gcs.js"),
      args: [],
      env: {},
      source: "builtin",
    },
    {
      name: "azure_blob",
      kind: "state_backend",
      executable: join(root, "plugins", "state-azure-blob", "bin", "wfctl-state-azure-blob.js"),
      args: [],
      env: {},
      source: "builtin",
    },
  ];
}

export class PluginCatalog {
  private readonly specs = new Map<string, PluginSpec>();

  constructor(specs: Iterable<PluginSpec> = builtinPlugins()) {
    for (const spec of specs) this.add(spec);
  }

  /** Adds a plugin; a state backend plugin may not take a core backend name. */
  add(spec: PluginSpec): void {
    if (spec.kind === "state_backend" && CORE_BACKENDS.includes(spec.name)) {
      throw new WfctlError(
        ErrorCode.CONFIG_INVALID,
        `plugin "${spec.name}" from ${spec.source} claims a core state backend name (${CORE_BACKENDS.join(", ")} are built in and cannot be replaced)`,
      );
    }
    const existing = this.specs.get(`${spec.kind}/${spec.name}`);
    if (existing && existing.source !== spec.source) {
      throw new WfctlError(
        ErrorCode.CONFIG_INVALID,
        `plugin "${spec.name}" (${spec.kind}) is declared twice: by ${existing.source} and by ${spec.source}`,
      );
    }
    this.specs.set(`${spec.kind}/${spec.name}`, spec);
  }

  /** The plugin of that kind and name; PLUGIN_NOT_FOUND lists what is known. */
  get(kind: PluginKind, name: string): PluginSpec {
    const spec = this.specs.get(`${kind}/${name}`);
    if (!spec) {
      const known = this.list().filter((s) => s.kind === kind).map((s) => s.name);
      throw new WfctlError(
        ErrorCode.PLUGIN_NOT_FOUND,
        `no ${kind === "provider" ? "provider" : "state backend"} plugin named "${name}" (known: ${known.join(", ") || "none"})`,
      );
    }
    return spec;
  }

  /** This catalog plus `specs` (a project's own plugins); a name taken twice is an error naming both sources. */
  extend(specs: Iterable<PluginSpec>): PluginCatalog {
    const merged = new PluginCatalog(this.list());
    for (const spec of specs) merged.add(spec);
    return merged;
  }

  list(): PluginSpec[] {
    return [...this.specs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
