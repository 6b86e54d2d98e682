// Checks that a plugin is what was pinned: before it is spawned, that it is
// there, and the checksum of all its code (lockfile); once it answers GetInfo, the name it answers to
// (and, for a state backend, that it serves the backend of that name), the
// version it reports, the host variables it says it reads (reads_env: pinned
// by the lockfile, or by the built-in catalog), and the services its kind needs.
import { normalizeEnvPatterns } from "../../proto/env-patterns.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { GetInfoResponse } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import { type PluginSpec, notInstalled, pluginFile } from "./catalog.js";
import { pluginChecksum } from "./checksum.js";

/**
 * Refuses, saying how to install it, a built-in plugin that ships as a
 * package of its own and is not beside this wfctl (an installed wfctl
 * carries only the local provider).
 */
export async function checkInstalled(spec: PluginSpec, who: string): Promise<void> {
  if (!notInstalled(spec)) return;
  const entry = `plugins:\n  - name: ${spec.name}\n    kind: ${spec.kind}\n    package: "${spec.installable}"\n    version: ${WFCTL_VERSION}`;
  throw new WfctlError(
    ErrorCode.PLUGIN_NOT_FOUND,
    `${who} is not installed: it ships as the npm package ${spec.installable}, not inside wfctl (${pluginFile(spec)} does not exist). ` +
      `Declare it in the wfctl.yaml beside your infra.yaml:\n${entry}\nand run \`wfctl plugins install\` there.`,
  );
}

/** Refuses to run a project plugin whose code no longer matches its lockfile; `who` names it. */
export async function verifyChecksum(spec: PluginSpec, who: string): Promise<void> {
  const pin = spec.pinned;
  if (!pin) return;
  let actual: string;
  try {
    actual = await pluginChecksum(pin.root);
  } catch (err) {
    throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${who}: cannot read ${pin.root}: ${(err as Error).message}`);
  }
  if (actual !== pin.checksum) {
    throw new WfctlError(
      ErrorCode.PLUGIN_CHECKSUM_MISMATCH,
      `${who}: refusing to start ${pin.path}: the checksum of ${pin.root} is ${actual}, but ${pin.lockfile} pins ${pin.checksum}. ` +
        "If you changed the plugin on purpose, run `wfctl plugins lock` to pin the new code.",
    );
  }
}

const list = (patterns: readonly string[]) => `[${patterns.join(", ")}]`;

/**
 * A plugin may not read more of the host's environment than was pinned
 * before it started (nor claim to read less: the pin would be stale). The
 * variables it was started with came from the pin, so a plugin whose code
 * changed to declare more is refused here, before any call.
 */
function checkReadsEnv(spec: PluginSpec, info: GetInfoResponse, who: string): void {
  if (spec.readsEnv === undefined) return; // plugins lock is learning it
  const declared = normalizeEnvPatterns(info.readsEnv);
  const pinned = normalizeEnvPatterns(spec.readsEnv);
  if (declared.join("\n") === pinned.join("\n")) return;
  if (spec.pinned) {
    throw new WfctlError(
      ErrorCode.PLUGIN_NOT_LOCKED,
      `${who} declares reads_env ${list(declared)}, but ${spec.pinned.lockfile} pins ${list(pinned)}; run \`wfctl plugins lock\` if the change is intended`,
    );
  }
  const from = spec.source === "builtin" ? "the built-in plugin catalog (daemon/supervisor/catalog.ts)" : spec.source;
  throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${who} declares reads_env ${list(declared)}, but ${from} gives it ${list(pinned)}`);
}

/**
 * Configuration reaches a plugin by the name its wfctl.yaml entry (or the
 * catalog) gives it: the plugin must answer to that name, and a state
 * backend must serve the backend of that name.
 */
function checkName(spec: PluginSpec, info: GetInfoResponse, who: string): void {
  const from = spec.source === "builtin" ? "the built-in plugin catalog" : spec.source;
  if (info.name !== spec.name) {
    throw new WfctlError(
      ErrorCode.PLUGIN_INCOMPATIBLE,
      `${who} answers to the name "${info.name}", but ${from} declares it as "${spec.name}": its GetInfo name must be the name configuration uses; rename the entry or the plugin`,
    );
  }
  if (spec.kind === "state_backend" && !info.stateBackends.includes(spec.name)) {
    throw new WfctlError(
      ErrorCode.PLUGIN_INCOMPATIBLE,
      `${who} is declared by ${from} as state backend "${spec.name}" (the \`backend:\` configuration uses), but declares backend(s) ${list(info.stateBackends)} in GetInfo.state_backends`,
    );
  }
}

/** Checks what a started plugin says of itself against its spec: name, version, reads_env, services. */
export function checkInfo(spec: PluginSpec, info: GetInfoResponse, who: string): void {
  const pinnedVersion = spec.pinned?.version;
  if (pinnedVersion && info.version !== pinnedVersion) {
    throw new WfctlError(
      ErrorCode.PLUGIN_INCOMPATIBLE,
      `${who} reports version ${info.version}, but ${spec.pinned?.lockfile} pins version ${pinnedVersion}; run \`wfctl plugins lock\``,
    );
  }
  checkReadsEnv(spec, info, who);
  const needed = spec.kind === "provider" ? [IaCProvider.typeName] : [IaCStateBackend.typeName, IaCStateBackendSetup.typeName];
  const missing = needed.filter((s) => !info.services.includes(s));
  if (missing.length > 0) {
    throw new WfctlError(
      ErrorCode.PLUGIN_INCOMPATIBLE,
      `${who} is declared as a ${spec.kind} but does not serve ${missing.join(", ")} (it serves: ${info.services.join(", ") || "nothing"})`,
    );
  }
  checkName(spec, info, who);
}
