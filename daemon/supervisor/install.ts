// `wfctl plugins install`: each `package:` plugin of wfctl.yaml installed
// with npm into a directory of its own, .wfctl/plugins/<name> — from a local
// tarball or folder (`from:`), else from the registry at `version:` (or the
// version the lockfile pins, or the latest). Run by the client, as the user
// and with the user's npm configuration; the lock that follows (lock-project.ts,
// mode install) checksums what was installed.
//
// Each install goes to a fresh temporary directory beside the target, which
// is renamed into place only once npm succeeded: a failed or interrupted
// install leaves the plugin installed before it as it was. The one it
// replaces is kept aside until the caller knows the lock accepted the new
// code (Installed.keep), and put back when it did not (Installed.undo). npm runs with
// --ignore-scripts (nothing a package says runs at install time: a plugin is
// code the daemon starts, not a build) and --install-links (a folder is
// copied, never linked to a place outside the project).
import { spawn } from "node:child_process";
import { lstat, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { readProjectPlugins } from "./manifest.js";
import { installDir } from "./package-resolve.js";
import { MANIFEST_FILE } from "./project-manifest.js";

/** One plugin to install: what npm is given, and where it goes. */
export interface InstallStep {
  name: string;
  package: string;
  /** The npm package spec: a path to a tarball or folder, or `<package>@<version>`. */
  spec: string;
  /** The npm prefix it is installed under (.wfctl/plugins/<name>). */
  prefix: string;
}

/**
 * What `plugins install` would install for the project in `dir`: every
 * `package:` plugin of its wfctl.yaml (`source:` plugins are files already
 * there). Without `upgrade`, a plugin whose wfctl.yaml gives no version gets
 * the version the lockfile pins, so an install on another machine gets the
 * same code; with it, the latest.
 */
export async function installSteps(dir: string, upgrade: boolean): Promise<InstallStep[]> {
  const project = await readProjectPlugins(dir);
  if (!project) throw new WfctlError(ErrorCode.NOT_FOUND, `no ${MANIFEST_FILE} in ${dir}: nothing to install`);
  const steps: InstallStep[] = [];
  for (const plugin of project.plugins) {
    if (plugin.package === undefined) continue;
    const locked = project.lock.format === 3 ? project.lock.entries[plugin.name] : undefined;
    const lockedVersion = !upgrade && locked?.source === `package:${plugin.package}` ? locked.version : undefined;
    const version = plugin.version ?? lockedVersion ?? "latest";
    const spec = plugin.from !== undefined ? resolve(dir, plugin.from) : `${plugin.package}@${version}`;
    steps.push({ name: plugin.name, package: plugin.package, spec, prefix: installDir(dir, plugin.name) });
  }
  return steps;
}

/** Runs npm with `args`; its output goes to `output` as it comes. Fails with npm's last lines. */
function npm(args: string[], cwd: string, output: (chunk: string) => void, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("npm", args, { cwd, stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal } : {}) });
    let tail = "";
    const take = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      output(text);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (err) => {
      if (signal?.aborted) reject(new WfctlError(ErrorCode.CANCELLED, `npm install ${args.at(-1) ?? ""} was interrupted; the plugin installed before (if any) is left as it was`));
      else reject(new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, (err as NodeJS.ErrnoException).code === "ENOENT" ? "wfctl plugins install needs npm on PATH" : `npm: ${err.message}`));
    });
    child.on("close", (code, sig) => {
      if (code === 0) resolvePromise();
      else reject(new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `npm install ${args.at(-1) ?? ""} failed (${sig ?? `exit code ${code}`}):\n${tail.trim()}`));
    });
  });
}

/** A plugin just installed: keep it, or undo the install (the plugin installed before it, if any, comes back). */
export interface Installed {
  keep(): Promise<void>;
  undo(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Installs one plugin into its prefix, replacing what was there only once npm succeeded. */
export async function installOne(step: InstallStep, options: { output: (chunk: string) => void; signal?: AbortSignal }): Promise<Installed> {
  const parent = dirname(step.prefix);
  await mkdir(parent, { recursive: true });
  // Installed plugins are build output: never committed (the lockfile is).
  await writeFile(join(parent, ".gitignore"), "# Written by wfctl plugins install: installed plugins are not committed; .wfctl-lock.yaml pins them.\n*\n");
  const temp = join(parent, `.${step.name}.installing-${process.pid}`);
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp);
  try {
    // A package.json of its own, so npm installs here and not in a parent project.
    await writeFile(join(temp, "package.json"), `${JSON.stringify({ name: `wfctl-plugin-${step.name}`, private: true, description: `wfctl plugin "${step.name}", installed by wfctl plugins install` }, null, 2)}\n`);
    const flags = ["install", "--ignore-scripts", "--install-links", "--omit=dev", "--no-audit", "--no-fund", "--no-update-notifier", "--save-exact"];
    await npm([...flags, step.spec], temp, options.output, options.signal);
    const previous = join(parent, `.${step.name}.previous-${process.pid}`);
    await rm(previous, { recursive: true, force: true });
    const hadOne = await exists(step.prefix);
    if (hadOne) await rename(step.prefix, previous);
    await rename(temp, step.prefix);
    return {
      keep: () => rm(previous, { recursive: true, force: true }),
      undo: async () => {
        await rm(step.prefix, { recursive: true, force: true });
        if (hadOne) await rename(previous, step.prefix);
      },
    };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
