// Each request about a configuration carries the environment of the step
// that runs this command: a warm daemon was started by an earlier step (or
// job), and resolves every variable an operation reads (`*_env` fields, the
// variables plugins read, WFCTL_VAR_*) from the request, never from its own
// environment. The daemon says which names a target may read
// (EnvironmentNames, asked once per target and command); the client sends
// those of its variables, on every call that names a Target, whichever
// command makes it: the daemon's socket and --no-daemon alike.
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { ENV_NAME, NEVER_INHERITED, matchesEnvPattern } from "../proto/env-patterns.js";
import { DaemonService, type Target, TargetSchema } from "../proto/gen/wfctl/daemon/v1/daemon_pb.js";

/** The variables of `env` that `names` (exact names and `PREFIX_*` patterns) cover; never NODE_OPTIONS. */
export function stepEnvironment(names: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !ENV_NAME.test(name) || NEVER_INHERITED.includes(name)) continue;
    if (matchesEnvPattern(name, names)) picked[name] = value;
  }
  return picked;
}

/**
 * Fills Target.environment of every unary request that has a Target (values
 * a caller set itself are kept), asking the daemon through `transport` (this
 * same transport: the question itself is left alone) which names to send.
 */
export function sendStepEnvironment(transport: () => Transport, env: NodeJS.ProcessEnv = process.env): Interceptor {
  const asked = new Map<string, Promise<string[]>>();
  const namesFor = (target: Target, signal: AbortSignal): Promise<string[]> => {
    const key = JSON.stringify([target.configPath, target.env]);
    let names = asked.get(key);
    if (!names) {
      const request = { target: { configPath: target.configPath, env: target.env, variables: target.variables, variableFiles: target.variableFiles } };
      names = createClient(DaemonService, transport())
        .environmentNames(request, { signal })
        .then((response) => response.names);
      asked.set(key, names);
      // A failed question is asked again by the next call (the failure reaches this one).
      names.catch(() => asked.delete(key));
    }
    return names;
  };
  return (next) => async (req) => {
    if (req.stream || req.method.name === DaemonService.method.environmentNames.name) return next(req);
    if (req.method.input.field["target"]?.message?.typeName !== TargetSchema.typeName) return next(req);
    const target = (req.message as { target?: Target }).target;
    if (!target?.configPath) return next(req);
    const names = await namesFor(target, req.signal);
    target.environment = { ...stepEnvironment(names, env), ...target.environment };
    return next(req);
  };
}
