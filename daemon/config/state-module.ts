// The iac.state module for one environment: which backend, configured how.
// Without one, state is the embedded default (files beside the config). A
// backend is never a guess: a module whose backend is set only under some
// environments is refused where the environment in use sets none, because
// falling back to a fresh local state there (a CI runner without --env)
// would plan to re-create everything that exists.
import { isJsonObject } from "../../proto/json.js";
import { DEFAULT_STATE_DIRECTORY, type StateModule } from "./model.js";
import { type Resolution, problemAt } from "./resolution.js";
import { type RawModule, STATE_MODULE } from "./schema.js";

/** The state module of the environment, or the embedded default; problems go to `r.problems`. */
export function resolveStateModule(r: Resolution): StateModule {
  const entries = r.enabled.filter((e) => e.view.type === STATE_MODULE);
  for (const extra of entries.slice(1)) {
    problemAt(r, extra.index, ["type"], extra.base, `only one ${STATE_MODULE} module is allowed (first: "${entries[0]?.base}")`, "type");
  }
  refuseGuessedBackend(r);
  const entry = entries[0];
  if (!entry) return { name: "", backend: "filesystem", config: { directory: DEFAULT_STATE_DIRECTORY }, index: undefined };
  const { backend, ...rest } = entry.view.config;
  if (backend !== undefined && (typeof backend !== "string" || backend === "")) {
    problemAt(r, entry.index, ["config", "backend"], entry.base, "must be a backend name (memory, filesystem, postgres, or a plugin's)", "config.backend");
  }
  const name = typeof backend === "string" && backend !== "" ? backend : "filesystem";
  return {
    name: entry.view.name,
    backend: name,
    config: name === "filesystem" && rest["directory"] === undefined ? { ...rest, directory: DEFAULT_STATE_DIRECTORY } : rest,
    index: entry.index,
  };
}

/** Environments of a state module whose entry sets config.backend. */
function environmentsSettingBackend(module: RawModule): string[] {
  return Object.entries(module.environments ?? {})
    .filter(([, override]) => isJsonObject(override?.config) && override.config["backend"] !== undefined)
    .map(([name]) => name)
    .sort();
}

/**
 * A state module with no backend of its own while environments set one:
 * refused when the environment in use resolves to no backend (it sets none,
 * or disables the module), naming the environments that do and what to do.
 */
function refuseGuessedBackend(r: Resolution): void {
  r.modules.forEach((module, index) => {
    if (module?.type !== STATE_MODULE || module.config?.["backend"] !== undefined) return;
    const setting = environmentsSettingBackend(module);
    if (setting.length === 0) return;
    const override = r.env === "" ? undefined : module.environments?.[r.env];
    if (isJsonObject(override?.config) && override.config["backend"] !== undefined) return;
    const where = r.env === "" ? "without --env" : override === null ? `in environment "${r.env}", which disables this module,` : `in environment "${r.env}", which sets none,`;
    const envs = setting.map((e) => `"${e}"`).join(", ");
    const flags = setting.map((e) => `--env ${e}`).join(" or ");
    problemAt(
      r,
      index,
      [],
      module.name,
      `the state backend is set only for environment${setting.length > 1 ? "s" : ""} ${envs}; ${where} this module has no backend, and wfctl does not guess one ` +
        "(falling back to a fresh filesystem state here would plan to re-create everything). " +
        `Run with ${flags}, or give the module a backend of its own under config (e.g. backend: filesystem, for local state wherever no environment sets one)`,
      "config.backend",
    );
  });
}
