// The composite action in deploy/github-actions/wfctl, run step by step as
// the GitHub runner runs it (test/helpers/actions-runner.ts): its real bash
// scripts, the real wfctl and wfctld, the real local provider plugin. One use
// of the action starts a daemon, runs a plan against it and stops it, leaving
// no process behind, also when the caller's commands fail; given the packed
// wfctl package (package:), it installs that with npm and runs it.
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { parse } from "yaml";
import { type JobResult, type JobStep, JobRunner, loadAction, stepNamed } from "../helpers/actions-runner.js";
import { type PackageJson, writeLockedProject } from "../helpers/npm-project.js";
import { npmCache, packWfctl } from "../helpers/package.js";
import { QUICKSTART, ROOT, WFCTL, tempDir } from "../helpers/paths.js";
import { isAlive, processesMatching } from "../helpers/processes.js";

const ACTION = join(ROOT, "deploy", "github-actions", "wfctl");

/**
 * A runner machine: a workspace holding a copy of the quickstart, and the
 * runner's temp directory; wfctl on PATH, in the project's node_modules, or
 * (npm) none set up by the test, for the action to install. `env` adds to
 * every step's; `stepTimeoutMs` replaces the runner's backstop per step.
 */
function machine(wfctlOn: "PATH" | "node_modules" | "npm", env: Record<string, string> = {}, stepTimeoutMs?: number) {
  const temp = tempDir("wft-gha-");
  cleanups.push(temp.cleanup);
  const workspace = join(temp.path, "ws");
  const runnerTemp = join(temp.path, "rt");
  cpSync(QUICKSTART, join(workspace, "quickstart"), { recursive: true, filter: (src) => !/[/\\](\.wfctl|out|out-staging)$/.test(src) });
  // wfctl installed as npm installs it: a symlink to the package's bin.
  const bin = wfctlOn === "node_modules" ? join(workspace, "node_modules", ".bin") : join(temp.path, "tools");
  mkdirSync(bin, { recursive: true });
  if (wfctlOn !== "npm") symlinkSync(WFCTL, join(bin, "wfctl"));
  const path = [...(wfctlOn === "PATH" ? [bin] : []), dirname(process.execPath), "/usr/bin", "/bin"].join(":");
  const runner = new JobRunner({ workspace, runnerTemp, baseEnv: { PATH: path, HOME: temp.path, TMPDIR: "/tmp", LANG: "C.UTF-8", ...env }, stepTimeoutMs });
  return { workspace, runnerTemp, bin, runner, socket: join(runnerTemp, "wfctl", "wfctld.sock") };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Every step's output, for failure messages. */
function transcript(job: JobResult): string {
  return job.steps.map((s) => `--- ${s.name} (${s.ran ? `exit ${s.code}` : "skipped"})\n${s.stdout}${s.stderr}`).join("\n");
}

function daemonPid(text: string): number {
  const m = text.match(/wfctld (?:started \(pid|\S+ is running \(pid) (\d+)/);
  if (!m) throw new Error(`no daemon pid in:\n${text}`);
  return Number(m[1]);
}

/** The pids of every plugin process the daemon's log says it started. */
function pluginPids(log: string): number[] {
  return log
    .split("\n")
    .filter((line) => line.includes('"plugin_pid"') && line.includes("started"))
    .map((line) => (JSON.parse(line) as { plugin_pid: number }).plugin_pid);
}

/** Nothing of this job's daemon is left: not the daemon, not a plugin, not its socket or pid file. */
function expectNothingLeft(runnerTemp: string, socket: string, daemon: number, plugins: number[]): void {
  expect(isAlive(daemon), `wfctld (pid ${daemon}) still runs`).toBe(false);
  for (const pid of plugins) expect(isAlive(pid), `plugin (pid ${pid}) still runs`).toBe(false);
  expect(processesMatching(runnerTemp), "processes naming the runner's temp directory").toEqual([]);
  expect(existsSync(socket), "socket file").toBe(false);
  expect(existsSync(socket.replace(/\.sock$/, ".pid")), "pid file").toBe(false);
}

describe("deploy/github-actions/wfctl (composite action)", () => {
  it("passes inputs to its scripts only through env, and runs every script with bash", () => {
    const action = loadAction(ACTION); // throws on ${{ }} inside run:, or another shell
    expect(action.runs.steps.map((s) => s.name)).toEqual(["Find wfctl", "Start wfctld", "Run wfctl commands", "Stop wfctld", "wfctld log"]);
    expect(action.runs.steps.find((s) => s.id === "stop")?.if).toBe("always()");
  });

  it("starts a daemon, runs a plan against it, and stops it, leaving no process behind", async () => {
    const { runner, runnerTemp, socket, bin } = machine("PATH");
    const job = await runner.run([
      {
        id: "wfctl",
        name: "wfctl",
        uses: ACTION,
        with: {
          config: "quickstart/infra.yaml",
          version: WFCTL_VERSION,
          "success-exit-codes": "0 2",
          run: 'wfctl daemon status\nwfctl infra plan -c "$WFCTL_CONFIG" --env "$WFCTL_ENV" --detailed-exitcode\n',
        },
      },
    ]);
    const all = transcript(job);
    expect(job.ok, all).toBe(true);
    expect(stepNamed(job, "wfctl / Find wfctl").stdout).toContain(`Using wfctl ${WFCTL_VERSION} from ${bin}; daemon socket ${socket}`);

    const start = stepNamed(job, "wfctl / Start wfctld");
    expect(start.outputs["started"], all).toBe("true");
    const pid = daemonPid(start.stdout);

    // The commands ran against that daemon, and the plan was a real one.
    const run = stepNamed(job, "wfctl / Run wfctl commands");
    expect(daemonPid(run.stdout), all).toBe(pid);
    expect(run.stdout).toContain(`socket:       ${socket}`);
    expect(run.stdout).toContain("Plan: 3 to create, 0 to update, 0 to replace, 0 to delete.");
    expect(job.outputs["wfctl"]).toMatchObject({ "exit-code": "2", socket, "log-file": join(runnerTemp, "wfctl", "wfctld.log") });
    expect(job.summary).toContain("### wfctl plan");
    expect(job.summary).toContain("**3 to add, 0 to change, 0 to replace, 0 to destroy**");

    // It stopped the daemon it started; the log step had nothing to report.
    expect(stepNamed(job, "wfctl / Stop wfctld").stdout).toContain(`wfctld stopped (pid ${pid}).`);
    expect(stepNamed(job, "wfctl / wfctld log").ran).toBe(false);
    const log = readFileSync(join(runnerTemp, "wfctl", "wfctld.log"), "utf8");
    const plugins = pluginPids(log);
    expect(plugins.length, log).toBeGreaterThan(0);
    expect(log).toContain('"msg":"wfctld stopped"');
    expectNothingLeft(runnerTemp, socket, pid, plugins);
  });

  it("still stops the daemon when the commands fail, prints its log, and fails the job", async () => {
    const { runner, runnerTemp, socket } = machine("PATH");
    const job = await runner.run([
      {
        name: "wfctl",
        uses: ACTION,
        with: {
          config: "quickstart/infra.yaml",
          // No --auto-approve and no terminal: apply plans (so the plugin
          // starts), then refuses with APPROVAL_REQUIRED, exit 1.
          run: 'wfctl infra apply -c "$WFCTL_CONFIG"\necho "not reached"\n',
        },
      },
      { name: "later step", run: "echo later" },
    ]);
    const all = transcript(job);
    expect(job.ok, all).toBe(false);
    const pid = daemonPid(stepNamed(job, "wfctl / Start wfctld").stdout);

    const run = stepNamed(job, "wfctl / Run wfctl commands");
    expect(run.code, all).toBe(1);
    expect(run.stderr).toContain("refusing to apply without --auto-approve");
    expect(run.stdout).not.toContain("not reached");
    expect(run.stdout).toContain("::error title=wfctl action::the wfctl commands exited 1 (success-exit-codes: 0)");
    expect(run.outputs["exit-code"]).toBe("1");

    expect(stepNamed(job, "wfctl / Stop wfctld").stdout).toContain(`wfctld stopped (pid ${pid}).`);
    const logStep = stepNamed(job, "wfctl / wfctld log");
    expect(logStep.ran).toBe(true);
    expect(logStep.stdout).toContain(`::group::wfctld log (${join(runnerTemp, "wfctl", "wfctld.log")})`);
    expect(logStep.stdout).toContain('"msg":"wfctld stopped"');
    expect(stepNamed(job, "later step").ran).toBe(false);

    const plugins = pluginPids(readFileSync(join(runnerTemp, "wfctl", "wfctld.log"), "utf8"));
    expect(plugins.length).toBeGreaterThan(0);
    expectNothingLeft(runnerTemp, socket, pid, plugins);
  });

  it("command: start keeps one daemon for the job's later steps, run reuses it, and stop ends it", async () => {
    const { runner, runnerTemp, socket, workspace } = machine("node_modules");
    const job = await runner.run([
      { name: "start", uses: ACTION, with: { command: "start", config: "quickstart/infra.yaml" } },
      // A plain step: wfctl, WFCTL_SOCKET, WFCTL_CONFIG and WFCTL_ENV come from the start.
      { name: "apply", run: 'wfctl daemon status\nwfctl infra apply -c "$WFCTL_CONFIG" --env "$WFCTL_ENV" --auto-approve\n' },
      { name: "plan", uses: ACTION, with: { config: "quickstart/infra.yaml", run: 'wfctl daemon status\nwfctl infra plan -c "$WFCTL_CONFIG" --detailed-exitcode\n' } },
      { name: "stop", if: "always()", uses: ACTION, with: { command: "stop" } },
    ]);
    const all = transcript(job);
    expect(job.ok, all).toBe(true);
    expect(stepNamed(job, "start / Find wfctl").stdout).toContain(`from ${join(workspace, "node_modules", ".bin")};`);
    const pid = daemonPid(stepNamed(job, "start / Start wfctld").stdout);
    // start left the daemon running for the job.
    expect(stepNamed(job, "start / Stop wfctld").stdout).toBe("");

    const apply = stepNamed(job, "apply");
    expect(daemonPid(apply.stdout)).toBe(pid);
    expect(apply.stdout).toContain("Apply complete: 3 created");

    // run mode found the job's daemon, used it, and left it running.
    expect(stepNamed(job, "plan / Start wfctld").stdout).toContain(`A wfctld already serves ${socket}: using it, and leaving it running.`);
    const plan = stepNamed(job, "plan / Run wfctl commands");
    expect(daemonPid(plan.stdout)).toBe(pid);
    expect(plan.stdout).toContain("No changes.");
    expect(plan.outputs["exit-code"]).toBe("0");
    expect(stepNamed(job, "plan / Stop wfctld").stdout).toBe("");

    // stop ends that same daemon, and shows its log.
    const stop = stepNamed(job, "stop / Stop wfctld");
    expect(stop.stdout).toContain(`wfctld stopped (pid ${pid}).`);
    expect(stop.stdout).toContain("::group::wfctld log");
    const plugins = pluginPids(readFileSync(join(runnerTemp, "wfctl", "wfctld.log"), "utf8"));
    expect(plugins.length).toBeGreaterThan(0);
    expectNothingLeft(runnerTemp, socket, pid, plugins);
  });

  it("the example workflow's Plan and Apply steps work with the action copied into the repository", async () => {
    const { runner, runnerTemp, socket, workspace } = machine("node_modules");
    // The repository: the action where the workflow says, infra.yaml at the root.
    cpSync(ACTION, join(workspace, ".github", "actions", "wfctl"), { recursive: true });
    cpSync(join(QUICKSTART, "infra.yaml"), join(workspace, "infra.yaml"));
    const workflow = parse(readFileSync(join(ROOT, "deploy", "github-actions", "wfctl.yml"), "utf8")) as { jobs: { infra: { steps: JobStep[] } } };
    const [planStep, applyStep] = workflow.jobs.infra.steps.filter((s) => s.uses === "./.github/actions/wfctl");
    expect([planStep?.name, applyStep?.name]).toEqual(["Plan", "Apply"]);
    // This runner evaluates no such condition: it is checked here, and the
    // Apply step run as it would be on a push to main after a plan with changes.
    expect(applyStep!.if).toBe("github.event_name == 'push' && github.ref == 'refs/heads/main' && steps.plan.outputs.exit-code == '2'");

    const plan = await runner.run([planStep!]);
    expect(plan.ok, transcript(plan)).toBe(true);
    expect(plan.outputs["plan"]?.["exit-code"]).toBe("2");
    const apply = await runner.run([{ ...applyStep!, if: undefined }]);
    expect(apply.ok, transcript(apply)).toBe(true);
    expect(stepNamed(apply, "Apply / Run wfctl commands").stdout).toContain("Apply complete: 3 created");
    const again = await runner.run([planStep!]);
    expect(again.outputs["plan"]?.["exit-code"], transcript(again)).toBe("0");

    const log = readFileSync(join(runnerTemp, "wfctl", "wfctld.log"), "utf8");
    const daemons = [plan, apply, again].map((job) => daemonPid(stepNamed(job, `${job.steps[0]!.name.split(" / ")[0]} / Start wfctld`).stdout));
    expect(new Set(daemons).size, "one daemon per use of the action").toBe(3);
    for (const pid of daemons) expectNothingLeft(runnerTemp, socket, pid, pluginPids(log));
  });

  // The install step takes seconds. Beside the suite's other npm installs on two busy cores it needs
  // more than the runner's default backstop per step (90 s) could promise, so it gets 240 s.
  it("installs wfctl from a package tarball (package:) and runs the commands with it, leaving no process behind", { timeout: 420_000 }, async () => {
    // npm takes every dependency from the cache `npm ci` filled, never the network (npm_config_offline):
    // the directory the action installs into is given a package-lock.json cut from wfctl's, so the
    // versions are the ones wfctl is tested with. Without it npm asked the registry for every
    // package's metadata, and on a fresh machine a stalled request held the step past its 240 s.
    const { runner, runnerTemp, socket, workspace } = machine("npm", { npm_config_cache: await npmCache(), npm_config_offline: "true" }, 240_000);
    const { tarball } = await packWfctl(workspace);
    const prefix = join(runnerTemp, "wfctl-npm");
    mkdirSync(prefix, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;
    writeLockedProject(prefix, { name: "wfctl-install", version: "0.0.0", private: true }, { tarball, manifest });
    const job = await runner.run([
      {
        name: "wfctl",
        uses: ACTION,
        with: {
          package: basename(tarball),
          version: WFCTL_VERSION,
          config: "quickstart/infra.yaml",
          // The daemon's command line: it runs from the installed package.
          run: 'wfctl infra apply -c "$WFCTL_CONFIG" --auto-approve\ntr "\\0" " " < "/proc/$(cat "${WFCTL_SOCKET%.sock}.pid")/cmdline"\n',
        },
      },
    ]);
    const all = transcript(job);
    expect(job.ok, all).toBe(true);
    const installed = join(runnerTemp, "wfctl-npm", "node_modules");
    const find = stepNamed(job, "wfctl / Find wfctl");
    expect(find.stdout).toContain(`::group::Installing wfctl from ${tarball} into ${join(runnerTemp, "wfctl-npm")}`);
    expect(find.stdout).toContain(`Using wfctl ${WFCTL_VERSION} from ${join(installed, ".bin")}; daemon socket ${socket}`);

    const run = stepNamed(job, "wfctl / Run wfctl commands");
    expect(run.stdout).toContain("Apply complete: 3 created");
    expect(run.stdout).toContain(join(installed, "wfctl", "daemon", "bin", "wfctld.js"));
    const pid = daemonPid(stepNamed(job, "wfctl / Start wfctld").stdout);
    expect(stepNamed(job, "wfctl / Stop wfctld").stdout).toContain(`wfctld stopped (pid ${pid}).`);
    const plugins = pluginPids(readFileSync(join(runnerTemp, "wfctl", "wfctld.log"), "utf8"));
    expect(plugins.length).toBeGreaterThan(0);
    expectNothingLeft(runnerTemp, socket, pid, plugins);
  });

  it("refuses a package that is not a file before installing or starting anything", async () => {
    const { runner, runnerTemp, workspace } = machine("npm");
    const job = await runner.run([{ name: "wfctl", uses: ACTION, with: { package: "wfctl-9.9.9.tgz", run: "wfctl --version" } }]);
    expect(job.ok).toBe(false);
    const find = stepNamed(job, "wfctl / Find wfctl");
    expect(find.stdout).toContain(`::error title=wfctl action::package ${join(workspace, "wfctl-9.9.9.tgz")} is not a file (a tarball made by npm pack)`);
    expect(find.stdout).not.toContain("Installing");
    expect(stepNamed(job, "wfctl / Start wfctld").ran).toBe(false);
    expect(processesMatching(runnerTemp)).toEqual([]);
  });

  it("refuses an unknown command before starting anything", async () => {
    const { runner, runnerTemp } = machine("PATH");
    const job = await runner.run([{ name: "wfctl", uses: ACTION, with: { command: "restart" } }]);
    expect(job.ok).toBe(false);
    expect(stepNamed(job, "wfctl / Find wfctl").stdout).toContain('::error title=wfctl action::command must be start, run or stop, not "restart"');
    expect(stepNamed(job, "wfctl / Start wfctld").ran).toBe(false);
    expect(stepNamed(job, "wfctl / Stop wfctld").stdout).toContain("wfctl was not set up: no daemon to stop.");
    expect(processesMatching(runnerTemp)).toEqual([]);
  });
});
