// Figure 7, side by side with Terraform: the same work done by `terraform`
// (its built-in `terraform_data` resource and its local backend, so every
// resource runs inside Terraform's own process: no plugin boundary at all)
// and by `wfctl` (`local.file` resources, filesystem state, its warm daemon
// and `local` provider plugin). Runs of the two are interleaved, one of each
// in turn, so drift in the machine's load touches both alike; the ratios of
// the medians are what the targets judge.
//
// Skipped, with a note, when `terraform` is not on PATH.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliSandbox, writeLocalFiles } from "./cli.mjs";
import { msSince, ratioCheck, spread } from "./report.mjs";

/** Terraform as CI runs it: no CLI config, no update check, no prompts, no colour. */
const TF_ENV = { ...process.env, TF_CLI_CONFIG_FILE: "/dev/null", CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" };

/** The `terraform` on PATH and its version, or undefined. */
function terraformVersion() {
  const result = spawnSync("terraform", ["version", "-json"], { env: TF_ENV, encoding: "utf8" });
  if (result.status !== 0) return undefined;
  try {
    return JSON.parse(result.stdout).terraform_version;
  } catch {
    return undefined;
  }
}

/** A directory of `count` terraform_data resources, shaped as writeLocalFiles' local.file ones. */
class TerraformSandbox {
  constructor(work, name, count) {
    this.dir = join(work, name);
    mkdirSync(this.dir, { recursive: true });
    this.count = count;
    const parts = [];
    for (let i = 0; i < count; i++) parts.push(`resource "terraform_data" "f${i}" {\n  input = "file ${i}\\n"\n}\n`);
    writeFileSync(join(this.dir, "main.tf"), parts.join(""));
    this.run(["init", "-input=false", "-no-color"]);
  }

  /** Runs `terraform args` and returns its wall time in ms; throws unless it exits with one of `expect`. */
  run(args, expect = [0]) {
    const started = process.hrtime.bigint();
    const result = spawnSync("terraform", args, { cwd: this.dir, env: TF_ENV, encoding: "utf8", maxBuffer: 256 * 2 ** 20, timeout: 900_000 });
    const ms = msSince(started);
    if (!expect.includes(result.status ?? -1)) {
      throw new Error(`terraform ${args.join(" ")} exited ${result.status ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(0, 500)}`);
    }
    return ms;
  }

  plan(expect) {
    return this.run(["plan", "-input=false", "-no-color", "-detailed-exitcode"], [expect]);
  }

  apply() {
    return this.run(["apply", "-input=false", "-no-color", "-auto-approve"]);
  }

  drift() {
    return this.run(["plan", "-input=false", "-no-color", "-refresh-only", "-detailed-exitcode"], [0]);
  }

  reset() {
    for (const f of ["terraform.tfstate", "terraform.tfstate.backup"]) rmSync(join(this.dir, f), { force: true });
  }

  /**
   * Writes the state an apply would leave, without the apply: each instance
   * as Terraform 1.11 records a terraform_data (read off a real 2-resource
   * apply), so a re-plan at 10,000 resources does not first cost Terraform's
   * own 10,000-resource apply (over 5 minutes here).
   */
  writeAppliedState() {
    const resources = [];
    for (let i = 0; i < this.count; i++) {
      const value = { value: `file ${i}\n`, type: "string" };
      const id = `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`;
      resources.push({
        mode: "managed",
        type: "terraform_data",
        name: `f${i}`,
        provider: 'provider["terraform.io/builtin/terraform"]',
        instances: [{ schema_version: 0, attributes: { id, input: value, output: value, triggers_replace: null }, sensitive_attributes: [] }],
      });
    }
    const state = { version: 4, terraform_version: terraformVersion(), serial: 1, lineage: "5a0b1c2d-0000-4000-8000-000000000000", outputs: {}, resources, check_results: null };
    writeFileSync(join(this.dir, "terraform.tfstate"), JSON.stringify(state));
  }
}

/** One wfctl sandbox with `count` local.file resources and its own daemon. */
function wfctlSandbox(work, name, count) {
  const cli = new CliSandbox(work, name);
  const config = writeLocalFiles(cli.dir, count);
  const reset = () => {
    rmSync(join(cli.dir, ".wfctl"), { recursive: true, force: true });
    rmSync(join(cli.dir, "out"), { recursive: true, force: true });
  };
  const timeout = ["--timeout", "600s"];
  return {
    cli,
    reset,
    plan: (expect) => cli.run(["infra", "plan", "-c", config, "--detailed-exitcode", ...timeout], { expect: [expect], timeoutMs: 900_000 }),
    apply: () => cli.run(["infra", "apply", "-c", config, "--auto-approve", ...timeout], { timeoutMs: 900_000 }),
    drift: () => cli.run(["infra", "drift", "-c", config, "--detailed-exitcode", ...timeout], { expect: [0], timeoutMs: 900_000 }),
  };
}

/** The CI job: plan (all to create), apply, plan (no changes), drift (none), plan (no changes). */
function ciJob(tool) {
  return tool.plan(2) + tool.apply() + tool.plan(0) + tool.drift() + tool.plan(0);
}

/** @returns {Promise<import("./report.mjs").FigureResult>} */
export async function measure({ work, quick, log }) {
  const version = terraformVersion();
  const title = "Side by side with Terraform";
  if (!version) {
    return { title, about: "", rows: [], checks: [], notes: ["`terraform` is not on PATH: this figure was skipped."] };
  }
  const runs = { job: quick ? 2 : 5, k1: quick ? 1 : 3, small: quick ? 5 : 15 };
  const rows = [];
  const checks = [];
  const notes = [];
  const sandboxes = [];
  const pair = (what, tf, wf, target) => {
    const [t, w] = [spread(tf), spread(wf)];
    rows.push({ what: `${what}: terraform`, spread: t }, { what: `${what}: wfctl`, spread: w });
    checks.push(ratioCheck(`${what}: wfctl / terraform`, w, t, "<=", target));
    log(`terraform ${what}: terraform ${(t.median / 1000).toFixed(2)} s, wfctl ${(w.median / 1000).toFixed(2)} s`);
  };
  try {
    // The 100-resource CI job, warm daemon; then with the daemon stopped before each job, so its first command starts it.
    {
      const tf = new TerraformSandbox(work, "tf-100", 100);
      const wf = wfctlSandbox(work, "wf-100", 100);
      sandboxes.push(wf);
      wf.cli.run(["daemon", "start"]);
      wf.reset();
      wf.plan(2);
      const [tfJob, wfJob, wfCold] = [[], [], []];
      for (let i = 0; i < runs.job; i++) {
        tf.reset();
        tfJob.push(ciJob(tf));
        wf.reset();
        wfJob.push(ciJob(wf));
        wf.reset();
        wf.cli.run(["daemon", "stop"]);
        wfCold.push(ciJob(wf));
      }
      pair("100-resource CI job (plan, apply, plan, drift, plan), warm daemon", tfJob, wfJob, 1.0);
      pair("100-resource CI job, the job's first command starting the daemon", tfJob, wfCold, 1.5);
    }
    // 1,000 resources: plan on empty state, apply, re-plan with no changes.
    {
      const tf = new TerraformSandbox(work, "tf-1000", 1000);
      const wf = wfctlSandbox(work, "wf-1000", 1000);
      sandboxes.push(wf);
      wf.cli.run(["daemon", "start"]);
      wf.reset();
      wf.plan(2);
      const s = { tf: { plan: [], apply: [], replan: [] }, wf: { plan: [], apply: [], replan: [] } };
      for (let i = 0; i < runs.k1; i++) {
        for (const [name, tool] of [["tf", tf], ["wf", wf]]) {
          tool.reset();
          s[name].plan.push(tool.plan(2));
          s[name].apply.push(tool.apply());
          s[name].replan.push(tool.plan(0));
        }
      }
      pair("1,000 resources: plan, empty state", s.tf.plan, s.wf.plan, 0.75);
      pair("1,000 resources: apply", s.tf.apply, s.wf.apply, 0.3);
      pair("1,000 resources: re-plan, no changes", s.tf.replan, s.wf.replan, 0.75);
    }
    // 10,000 resources: the re-plan (Terraform's state written as its apply would leave it).
    if (!quick) {
      const tf = new TerraformSandbox(work, "tf-10000", 10_000);
      tf.writeAppliedState();
      const wf = wfctlSandbox(work, "wf-10000", 10_000);
      sandboxes.push(wf);
      wf.cli.run(["daemon", "start"]);
      wf.reset();
      wf.apply();
      const [t, w] = [[], []];
      for (let i = 0; i < 2; i++) {
        t.push(tf.plan(0));
        w.push(wf.plan(0));
      }
      pair("10,000 resources: re-plan, no changes", t, w, 0.5);
      notes.push(
        "10,000 resources: Terraform's state is written as its apply leaves it (the instance shape read off a real apply of terraform_data) rather than applied, which takes Terraform over 5 minutes here; wfctl's is made by a real apply (untimed). Two runs each.",
      );
    } else {
      notes.push("10,000 resources are not measured with --quick.");
    }
    // One warm plan of 3 resources, and each CLI's version.
    {
      const tf = new TerraformSandbox(work, "tf-3", 3);
      const wf = wfctlSandbox(work, "wf-3", 3);
      sandboxes.push(wf);
      tf.apply();
      wf.cli.run(["daemon", "start"]);
      wf.reset();
      wf.apply();
      wf.plan(0);
      const [tPlan, wPlan, tVersion, wVersion] = [[], [], [], []];
      for (let i = 0; i < runs.small; i++) {
        tPlan.push(tf.plan(0));
        wPlan.push(wf.plan(0));
        tVersion.push(tf.run(["version"]));
        wVersion.push(wf.cli.run(["--version"]));
      }
      pair("one warm plan of 3 resources", tPlan, wPlan, 1.2);
      pair("`--version` (`terraform version`)", tVersion, wVersion, undefined);
    }
  } finally {
    for (const wf of sandboxes) {
      wf.cli.stop();
      wf.reset();
    }
  }
  notes.push(
    `Terraform ${version} with TF_CLI_CONFIG_FILE=/dev/null, CHECKPOINT_DISABLE=1, TF_IN_AUTOMATION=1 and -input=false; built-in terraform_data resources (in Terraform's own process), local backend; \`terraform init\` once per directory, untimed. ` +
      "wfctl: local.file resources (real files written), filesystem state, the warm daemon of its own sandbox. Drift is `terraform plan -refresh-only` and `wfctl infra drift`.",
  );
  return {
    title,
    about: "Wall time of the real `terraform` and `wfctl` processes doing the same work, runs interleaved, medians; the ratio is wfctl / Terraform (below 1: wfctl is faster).",
    rows,
    checks,
    notes,
  };
}
