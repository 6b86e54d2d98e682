// Saved plans in the client: `plan --out FILE` writes the plan file the
// daemon made (atomically, mode 0600: it names every resource and setting),
// `apply FILE` reads it back and applies exactly it, and `show FILE` prints
// it as `plan` does, entirely here (it is only a file; no daemon is asked).
import { open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Command, Option } from "commander";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { Plan } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { SAVED_PLAN_MAX_BYTES, type SavedPlanDocument, parseSavedPlan } from "../../proto/saved-plan.js";
import { EXIT } from "../exit-codes.js";
import { planJson, renderPlan } from "../output/plan.js";
import { type TargetOptions, out, printJson } from "../runtime.js";

/** Writes a plan file: to a temporary file beside it (mode 0600), flushed, then renamed into place. */
export async function writePlanFile(path: string, content: Uint8Array): Promise<string> {
  const full = resolve(path);
  const temp = join(dirname(full), `.${basename(full)}.${process.pid}.tmp`);
  try {
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, full);
  } catch (err) {
    await rm(temp, { force: true });
    throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `--out ${path}: cannot write the plan there: ${(err as Error).message}`, { cause: err });
  }
  return full;
}

/** What to say once a plan is saved: where, and how to apply exactly it. */
export function savedPlanNote(path: string): string {
  return `\nSaved the plan to ${path}. To apply exactly this plan: wfctl infra apply ${path}\n`;
}

/** Reads and checks a plan file; `path` is named in every error. */
export async function readPlanFile(path: string): Promise<{ document: SavedPlanDocument; plan: Plan; content: Uint8Array }> {
  let content: Uint8Array;
  try {
    const size = (await stat(path)).size;
    if (size > SAVED_PLAN_MAX_BYTES) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${path} is ${size} bytes: larger than any saved plan (${SAVED_PLAN_MAX_BYTES} bytes at most)`);
    content = await readFile(path);
  } catch (err) {
    if (err instanceof WfctlError) throw err;
    const code = (err as NodeJS.ErrnoException).code === "ENOENT" ? ErrorCode.NOT_FOUND : ErrorCode.FAILED_PRECONDITION;
    throw new WfctlError(code, `cannot read the saved plan ${path}: ${(err as Error).message}`, { cause: err });
  }
  return { ...parseSavedPlan(content, path), content };
}

/** Flags that a plan file decides (it was planned with them): given with one, they are usage errors. */
const DECIDED_BY_THE_PLAN: readonly [keyof SavedPlanApplyOptions, string][] = [
  ["target", "--target"],
  ["replace", "--replace"],
  ["var", "--var"],
  ["varFile", "--var-file"],
  ["refresh", "--refresh"],
  ["allowProtectedPrune", "--allow-protected-prune"],
];

export interface SavedPlanApplyOptions extends TargetOptions {
  target?: string[];
  replace?: string[];
  refresh?: boolean;
  allowProtectedPrune?: boolean;
}

/**
 * `apply FILE`: the plan file, and the command's options pointed at what it
 * was planned for (its configuration, unless -c names another copy of it,
 * and its environment). Flags the plan decided are refused before anything
 * is read.
 */
export async function savedPlanApply<T extends SavedPlanApplyOptions>(file: string, opts: T, configGiven: boolean): Promise<{ opts: T; content: Uint8Array }> {
  const given = DECIDED_BY_THE_PLAN.filter(([key]) => {
    const value = opts[key];
    return Array.isArray(value) ? value.length > 0 : value !== undefined && value !== false;
  }).map(([, flag]) => flag);
  if (given.length > 0) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${given.join(", ")} cannot be used with a saved plan: ${file} was planned with its own (see wfctl infra show ${file}); plan again to change them`);
  }
  const { document, content } = await readPlanFile(file);
  if (opts.env !== undefined && opts.env !== document.target.env) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `--env ${opts.env}: ${file} was planned for ${document.target.env ? `environment "${document.target.env}"` : "no environment"}`);
  }
  return { opts: { ...opts, config: configGiven ? opts.config : document.target.config_path, env: document.target.env }, content };
}

/** A saved plan's description: when and by what it was made, for what. */
function describe(file: string, document: SavedPlanDocument, plan: Plan): string {
  const env = document.target.env ? `, environment ${document.target.env}` : "";
  const scope = [
    document.targets.length > 0 ? `--target ${document.targets.join(", ")}` : "",
    document.replace.length > 0 ? `--replace ${document.replace.join(", ")}` : "",
  ].filter(Boolean);
  return (
    `Saved plan ${file}: made ${document.created_at} by wfctl ${document.wfctl_version}${document.destroy ? " (a destroy)" : ""}\n` +
    `  for ${document.target.config_path}${env}; state: ${plan.backend}${plan.namespace && !plan.backend.includes(`namespace ${plan.namespace}`) ? `, namespace ${plan.namespace}` : ""}\n` +
    `${scope.length > 0 ? `  planned with ${scope.join(" ")}\n` : ""}\n`
  );
}

async function show(file: string, opts: { json?: boolean }): Promise<number> {
  const { document, plan } = await readPlanFile(file);
  if (opts.json) {
    printJson({
      file: resolve(file),
      format_version: document.version,
      wfctl_version: document.wfctl_version,
      created_at: document.created_at,
      config: document.target.config_path,
      replace: document.replace,
      ...planJson(plan),
    });
  } else out(describe(file, document, plan) + renderPlan(plan));
  return EXIT.OK;
}

/** `wfctl infra show FILE`. */
export function showCommand(run: (code: Promise<number>) => Promise<void>): Command {
  return new Command("show")
    .description("print a saved plan (wfctl infra plan --out FILE) as plan prints it; needs no daemon")
    .argument("<file>", "the plan file")
    .addOption(new Option("--json", "print machine-readable JSON on stdout"))
    .action((file: string, opts: { json?: boolean }) => run(show(file, opts)));
}
