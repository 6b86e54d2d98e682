// A small stand-in for the GitHub Actions runner, enough to run a job of
// `run:` steps and local composite actions (`shell: bash` only) for real:
// each script runs as `bash --noprofile --norc -eo pipefail FILE`, with
// $GITHUB_ENV, $GITHUB_PATH, $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY files
// applied as the runner applies them. Expressions are deliberately few:
// `${{ inputs.NAME }}`, `${{ github.action_path }}`, `${{ runner.temp }}`,
// `${{ steps.ID.outputs.NAME }}`, and `if:` of always(), success() or
// failure(). Anything else throws, so an action that needs more fails its
// test instead of being run wrongly.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { parse } from "yaml";

/** One step of a job: a script, or a local composite action by its directory (absolute, or ./ from the workspace). */
export interface JobStep {
  name?: string;
  id?: string;
  if?: string;
  run?: string;
  uses?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
}

/** What one script did. Composite steps are named `<action step> / <inner step>`. */
export interface StepRecord {
  name: string;
  ran: boolean;
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
}

export interface JobResult {
  ok: boolean;
  steps: StepRecord[];
  /** Outputs of each job step by id (an action's outputs for a `uses:` step). */
  outputs: Record<string, Record<string, string>>;
  /** Everything the steps appended to $GITHUB_STEP_SUMMARY. */
  summary: string;
}

interface ActionInput {
  description?: string;
  required?: boolean;
  default?: string;
}

interface CompositeStep {
  name?: string;
  id?: string;
  if?: string;
  shell?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  [key: string]: unknown;
}

export interface ActionDefinition {
  name: string;
  inputs?: Record<string, ActionInput>;
  outputs?: Record<string, { description?: string; value: string }>;
  runs: { using: string; steps: CompositeStep[] };
}

/** Reads and checks an action.yml (composite, bash steps, no expressions inside scripts). */
export function loadAction(dir: string): ActionDefinition {
  const action = parse(readFileSync(join(dir, "action.yml"), "utf8")) as ActionDefinition;
  if (action.runs?.using !== "composite") throw new Error(`${dir}/action.yml: runs.using is ${String(action.runs?.using)}, not composite`);
  for (const [i, step] of action.runs.steps.entries()) {
    const where = `${dir}/action.yml step ${i + 1} (${step.name ?? step.id ?? "unnamed"})`;
    if (step.run === undefined) throw new Error(`${where}: only run steps are supported here`);
    if (step.shell !== "bash") throw new Error(`${where}: shell is ${String(step.shell)}; composite run steps here must say shell: bash`);
    if (step.run.includes("${{")) throw new Error(`${where}: an expression inside run: is a script-injection risk; pass it through env:`);
    const known = new Set(["name", "id", "if", "shell", "run", "env"]);
    for (const key of Object.keys(step)) if (!known.has(key)) throw new Error(`${where}: key "${key}" is not supported by this runner`);
  }
  return action;
}

interface Context {
  inputs?: Record<string, string>;
  actionPath?: string;
  steps: Record<string, Record<string, string>>;
}

/** Substitutes the few supported expressions; throws on any other. */
function substitute(text: string, context: Context, runnerTemp: string, where: string): string {
  return text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expr: string) => {
    let m: RegExpMatchArray | null;
    if ((m = expr.match(/^inputs\.([A-Za-z0-9_-]+)$/))) {
      if (!context.inputs) throw new Error(`${where}: inputs.${m[1]} outside an action`);
      const value = context.inputs[m[1]!];
      if (value === undefined) throw new Error(`${where}: input "${m[1]}" is not declared by the action`);
      return value;
    }
    if (expr === "github.action_path") {
      if (!context.actionPath) throw new Error(`${where}: github.action_path outside an action`);
      return context.actionPath;
    }
    if (expr === "runner.temp") return runnerTemp;
    if ((m = expr.match(/^steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)$/))) return context.steps[m[1]!]?.[m[2]!] ?? "";
    throw new Error(`${where}: unsupported expression \${{ ${expr} }}`);
  });
}

/** Should a step run, given whether an earlier step (of its scope) failed? */
function shouldRun(condition: string | undefined, failed: boolean, where: string): boolean {
  const expr = (condition ?? "success()").trim().replace(/^\$\{\{\s*(.*?)\s*\}\}$/, "$1");
  if (expr === "always()") return true;
  if (expr === "success()") return !failed;
  if (expr === "failure()") return failed;
  throw new Error(`${where}: unsupported if: ${condition}`);
}

/** Parses a $GITHUB_ENV or $GITHUB_OUTPUT file: NAME=value lines and NAME<<DELIM blocks. */
export function parseCommandFile(text: string, file: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") continue;
    const heredoc = line.match(/^([^=<]+)<<(.+)$/);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const end = lines.indexOf(delimiter!, i + 1);
      if (end < 0) throw new Error(`${file}: ${name}<<${delimiter} has no closing ${delimiter}`);
      values[name!] = lines.slice(i + 1, end).join("\n");
      i = end;
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`${file}: malformed line ${JSON.stringify(line)}`);
    values[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return values;
}

/**
 * A job on one machine: a workspace (the steps' working directory), a
 * runner temp directory, and the environment every step starts from.
 */
export class JobRunner {
  private readonly env: Record<string, string> = {};
  private readonly path: string[] = [];
  private summary = "";
  private counter = 0;

  constructor(
    private readonly options: { workspace: string; runnerTemp: string; baseEnv: Record<string, string>; stepTimeoutMs?: number },
  ) {
    mkdirSync(options.runnerTemp, { recursive: true });
  }

  async run(steps: readonly JobStep[]): Promise<JobResult> {
    const records: StepRecord[] = [];
    const outputs: Record<string, Record<string, string>> = {};
    let failed = false;
    for (const [i, step] of steps.entries()) {
      const name = step.name ?? step.id ?? step.uses ?? `step ${i + 1}`;
      if (!shouldRun(step.if, failed, name)) {
        records.push({ name, ran: false, code: 0, stdout: "", stderr: "", outputs: {} });
        continue;
      }
      if (step.uses) {
        // A local action, like `uses: ./.github/actions/x`, is relative to the workspace.
        if (!isAbsolute(step.uses) && !step.uses.startsWith("./")) throw new Error(`${name}: only local actions can run here, not ${step.uses}`);
        const dir = resolve(this.options.workspace, step.uses);
        const result = await this.runAction(name, dir, step.with ?? {}, step.env ?? {});
        records.push(...result.records);
        if (step.id) outputs[step.id] = result.outputs;
        failed ||= !result.ok;
      } else if (step.run !== undefined) {
        const record = await this.script(name, step.run, step.env ?? {});
        records.push(record);
        if (step.id) outputs[step.id] = record.outputs;
        failed ||= record.code !== 0;
      } else {
        throw new Error(`${name}: neither run nor uses`);
      }
    }
    return { ok: !failed, steps: records, outputs, summary: this.summary };
  }

  /** Runs a composite action: its steps' if: see only the action's own failures, as on GitHub. */
  private async runAction(name: string, dir: string, given: Record<string, string>, stepEnv: Record<string, string>) {
    const action = loadAction(dir);
    const declared = action.inputs ?? {};
    for (const key of Object.keys(given)) if (!(key in declared)) throw new Error(`${name}: unexpected input "${key}" (the action declares ${Object.keys(declared).join(", ")})`);
    const inputs: Record<string, string> = {};
    for (const [key, input] of Object.entries(declared)) {
      const value = given[key] ?? input.default ?? "";
      if (input.required && value === "") throw new Error(`${name}: input "${key}" is required`);
      inputs[key] = value;
    }
    const context: Context = { inputs, actionPath: dir, steps: {} };
    const records: StepRecord[] = [];
    let failed = false;
    for (const [i, inner] of action.runs.steps.entries()) {
      const where = `${name} / ${inner.name ?? inner.id ?? `step ${i + 1}`}`;
      if (!shouldRun(inner.if, failed, where)) {
        records.push({ name: where, ran: false, code: 0, stdout: "", stderr: "", outputs: {} });
        continue;
      }
      const env: Record<string, string> = { ...stepEnv, GITHUB_ACTION_PATH: dir };
      for (const [key, value] of Object.entries(inner.env ?? {})) env[key] = substitute(String(value), context, this.options.runnerTemp, where);
      const record = await this.script(where, inner.run!, env);
      records.push(record);
      if (inner.id) context.steps[inner.id] = record.outputs;
      failed ||= record.code !== 0;
    }
    const outputs: Record<string, string> = {};
    for (const [key, output] of Object.entries(action.outputs ?? {})) outputs[key] = substitute(output.value, context, this.options.runnerTemp, `${name} outputs.${key}`);
    return { ok: !failed, records, outputs };
  }

  /** Runs one bash script as the runner does, then applies its command files. */
  private async script(name: string, script: string, stepEnv: Record<string, string>): Promise<StepRecord> {
    const n = ++this.counter;
    const dir = join(this.options.runnerTemp, "_runner_file_commands");
    mkdirSync(dir, { recursive: true });
    const files = {
      GITHUB_ENV: join(dir, `env_${n}`),
      GITHUB_PATH: join(dir, `path_${n}`),
      GITHUB_OUTPUT: join(dir, `output_${n}`),
      GITHUB_STEP_SUMMARY: join(dir, `summary_${n}`),
    };
    for (const file of Object.values(files)) writeFileSync(file, "");
    const file = join(this.options.runnerTemp, `step_${n}.sh`);
    writeFileSync(file, script);
    const base = this.options.baseEnv;
    const env: Record<string, string> = {
      ...base,
      ...this.env,
      ...stepEnv,
      ...files,
      PATH: [...this.path, stepEnv["PATH"] ?? this.env["PATH"] ?? base["PATH"] ?? ""].join(":"),
      RUNNER_TEMP: this.options.runnerTemp,
      GITHUB_WORKSPACE: this.options.workspace,
      GITHUB_ACTIONS: "true",
      CI: "true",
    };
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn("bash", ["--noprofile", "--norc", "-eo", "pipefail", file], { cwd: this.options.workspace, env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
      const timeoutMs = this.options.stepTimeoutMs ?? 90_000;
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${name} did not finish within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
      }, timeoutMs);
      child.once("error", reject);
      child.once("close", (c) => {
        clearTimeout(timer);
        resolve({ code: c ?? -1, stdout: out, stderr: err });
      });
    });
    Object.assign(this.env, parseCommandFile(readFileSync(files.GITHUB_ENV, "utf8"), `${name}: GITHUB_ENV`));
    const added = readFileSync(files.GITHUB_PATH, "utf8").split("\n").filter((line) => line.trim() !== "");
    this.path.unshift(...added.reverse());
    const summary = readFileSync(files.GITHUB_STEP_SUMMARY, "utf8");
    this.summary += summary;
    return { name, ran: true, code, stdout, stderr, outputs: parseCommandFile(readFileSync(files.GITHUB_OUTPUT, "utf8"), `${name}: GITHUB_OUTPUT`) };
  }
}

/** A step's record by name (a composite step's by `<action step> / <inner step>`), or a clear error. */
export function stepNamed(job: JobResult, name: string): StepRecord {
  const step = job.steps.find((s) => s.name === name);
  if (!step) throw new Error(`no step "${name}"; steps: ${job.steps.map((s) => s.name).join(", ")}`);
  return step;
}
