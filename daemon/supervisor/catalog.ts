// Which plugins the daemon can start, by name: the plugins shipped with wfctl,
// and (through extend) a project's own plugins, declared in wfctl.yaml and
// pinned by its lockfile.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { normalizeEnvPatterns } from "../../proto/env-patterns.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { CORE_BACKENDS } from "../../proto/state-store.js";
import { PACKAGE_ROOT } from "../../proto/versions.js";
import { givenEnvironment } from "./plugin-env.js";

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
  /** Environment set as given (wfctl.yaml `env:`); beside it the plugin gets only what plugin-env.ts allows. */
  env: Readonly<Record<string, string>>;
  /**
   * The daemon's variables the plugin reads (names and `PREFIX_*`), known
   * before it starts: the built-in table below, or the lockfile. The plugin's
   * own GetInfo.reads_env must say the same, or it is refused. Undefined only
   * while `plugins lock` starts a plugin to learn it: then it gets none.
   */
  readsEnv?: readonly string[];
  /** The variables its configuration names in `*_env` fields (set per configuration: see forRequest). */
  configEnv?: readonly string[];
  /**
   * The values of its reads_env and configEnv variables, from the environment
   * of the wfctl command whose request starts it (set per request: see
   * forRequest). Secrets: never logged, listed or part of specIdentity; the
   * supervisor keys the instance by their digest instead.
   */
  environment?: Readonly<Record<string, string>>;
  /** Where the entry came from, for messages: "builtin", a manifest path. */
  source: string;
  /** What .wfctl-lock.yaml pins (project plugins only): checked before every spawn. */
  pinned?: PluginPin;
  /**
   * Built-in plugins shipped as a package of their own (the cloud plugins):
   * its npm name. Where the package is not beside wfctl (an installed wfctl
   * has only the local provider), starting it says how to install it, and a
   * project's wfctl.yaml may declare a plugin of this name to take its place.
   */
  installable?: string;
}

export interface PluginPin {
  /** The file run: the executable, or the script run with node. */
  path: string;
  /** What the checksum covers: that file, or the directory its package was installed in (checksum.ts). */
  root: string;
  /** `sha256:` of the file or `h1:` of the directory, for this platform. */
  checksum: string;
  /** The version the plugin must report ("" = any). */
  version: string;
  lockfile: string;
}

/** What the AWS SDK reads (see plugins/provider-s3/main.ts). */
const AWS_ENV = ["AWS_*", "NODE_EXTRA_CA_CERTS"];
const PROXY_ENV = ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "NODE_EXTRA_CA_CERTS"];
/** What the Google Cloud client libraries read (see plugins/provider-gcs/main.ts). */
const GOOGLE_ENV = [
  ...["GOOGLE_*", "GCLOUD_*", "CLOUDSDK_CONFIG", "STORAGE_EMULATOR_HOST", "GCE_METADATA_*", "METADATA_SERVER_DETECTION", "DETECT_GCP_RETRIES"],
  ...["K_SERVICE", "K_CONFIGURATION", "CLOUD_RUN_JOB", "FUNCTION_NAME", "FUNCTION_TARGET", "GAE_SERVICE", "GAE_MODULE_NAME"],
  ...["google_application_credentials", "google_cloud_project", "gcloud_project", ...PROXY_ENV],
];
/** What the Azure SDK reads (see plugins/provider-azure/main.ts). */
const AZURE_ENV = [
  ...["AZURE_*", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"],
  ...["DEFAULT_IDENTITY_CLIENT_ID", "SYSTEM_OIDCREQUESTURI", ...PROXY_ENV],
];

/**
 * The plugins wfctl knows by name, each with the variables it reads from the
 * host's environment: this table is what pins a built-in plugin's reads_env
 * (as the lockfile does for a project's plugins), and a built-in plugin that
 * declares anything else is refused at start. The local provider ships
 * inside wfctl; each cloud plugin is a package of its own (@wfctl/<dir>),
 * bundled into one file by plugins/bundle.mjs: in a checkout it is found
 * beside wfctl, elsewhere a project installs it (`wfctl plugins install`).
 */
export function builtinPlugins(root: string = PACKAGE_ROOT): PluginSpec[] {
  const spec = (name: string, kind: PluginKind, readsEnv: readonly string[], start: Pick<PluginSpec, "executable" | "args">): PluginSpec => ({
    name,
    kind,
    ...start,
    env: {},
    readsEnv: normalizeEnvPatterns(readsEnv),
    source: "builtin",
  });
  const cloud = (name: string, kind: PluginKind, dir: string, readsEnv: readonly string[]): PluginSpec => ({
    ...spec(name, kind, readsEnv, { executable: process.execPath, args: [join(root, "plugins", dir, "dist", `wfctl-${dir}.mjs`)] }),
    installable: `@wfctl/${dir}`,
  });
  return [
    spec("local", "provider", [], { executable: join(root, "plugins", "provider-local", "bin", "wfctl-provider-local.js"), args: [] }),
    cloud("postgres", "provider", "provider-postgres", ["PG*"]),
    // Bucket providers, each its own plugin with its cloud SDK.
    cloud("s3", "provider", "provider-s3", AWS_ENV),
    cloud("gcs", "provider", "provider-gcs", GOOGLE_ENV),
    cloud("azure", "provider", "provider-azure", AZURE_ENV),
    // State backends, each its own plugin with its cloud SDK.
    cloud("s3", "state_backend", "state-s3", AWS_ENV),
    cloud("gcs", "state_backend", "state-gcs", GOOGLE_ENV),
    cloud("azure_blob", "state_backend", "state-azure-blob", AZURE_ENV),
  ];
}

/** The file a plugin runs: its script (run with node), else its executable. */
export function pluginFile(spec: PluginSpec): string {
  return spec.args[0] ?? spec.executable;
}

/**
 * Whether `spec` is a built-in plugin that ships as a package of its own and
 * is not beside this wfctl (an installed wfctl has only the local provider):
 * `plugins list` says `not_installed`, and starting it says how to install it.
 */
export function notInstalled(spec: PluginSpec): boolean {
  return spec.installable !== undefined && spec.source === "builtin" && !existsSync(pluginFile(spec));
}

/**
 * A digest of everything about `spec` that decides what runs: two specs with
 * the same identity start the same process. A warm instance is reused only
 * for its own identity, so a plugin locked again with other args or env
 * starts afresh instead of serving from the old process.
 */
export function specIdentity(spec: PluginSpec): string {
  const { name, kind, executable, args, env, source, readsEnv, configEnv, pinned } = spec;
  const identity = { name, kind, executable, args, env, source, readsEnv: readsEnv ?? null, configEnv: configEnv ?? [], checksum: pinned?.checksum ?? "", version: pinned?.version ?? "" };
  return createHash("sha256").update(JSON.stringify(identity)).digest("hex");
}

/**
 * `spec` as started for one configuration and one request: with the
 * variables that configuration names in `*_env` fields, and the values of
 * those and of the plugin's reads_env from the request's environment (the
 * wfctl command's, never the daemon's).
 */
export function forRequest(spec: PluginSpec, configEnv: readonly string[], requestEnv: Readonly<Record<string, string>>): PluginSpec {
  const named = configEnv.length === 0 ? spec : { ...spec, configEnv: [...configEnv] };
  const environment = givenEnvironment(named, requestEnv);
  return Object.keys(environment).length === 0 ? named : { ...named, environment };
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
    // A project may install a plugin in place of a built-in one that ships as its own package.
    const replaces = existing?.installable !== undefined && existing.source === "builtin" && spec.source !== "builtin";
    if (existing && existing.source !== spec.source && !replaces) {
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
