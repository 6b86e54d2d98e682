// Supervisors for integration tests: fixture plugin specs, and supervisors
// stopped (with every plugin they started) after each test.
import { join } from "node:path";
import { pino } from "pino";
import { afterEach } from "vitest";
import { PluginCatalog, type PluginSpec, builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor, type SupervisorOptions } from "../../daemon/supervisor/supervisor.js";
import { FIXTURE_PLUGINS } from "./paths.js";

export const quiet = pino({ level: "silent" });

/**
 * A fixture plugin (test/fixtures/plugins/FILE.mjs), run with this Node.js,
 * under the name its GetInfo answers (`name`, by default the file's name):
 * the host refuses a plugin that answers another.
 */
export function fixture(file: string, options: { kind?: PluginSpec["kind"]; env?: Record<string, string>; name?: string } = {}): PluginSpec {
  return {
    name: options.name ?? file,
    kind: options.kind ?? "provider",
    executable: process.execPath,
    args: [join(FIXTURE_PLUGINS, `${file}.mjs`)],
    env: options.env ?? {},
    source: "test fixture",
  };
}

/** Returns a factory of supervisors that are all stopped after each test of the file. */
export function supervisorsStoppedAfterEach(): (specs?: PluginSpec[], options?: SupervisorOptions) => PluginSupervisor {
  let supervisors: PluginSupervisor[] = [];
  afterEach(async () => {
    await Promise.all(supervisors.map((s) => s.stopAll()));
    supervisors = [];
  });
  return (specs = builtinPlugins(), options = {}) => {
    const s = new PluginSupervisor(new PluginCatalog(specs), quiet, options);
    supervisors.push(s);
    return s;
  };
}
