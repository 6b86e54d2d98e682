// Does state describe exactly what exists? For a stack of file resources
// named fN (local.file) and sN (settlefs.file, the fixture whose changes
// linger after the file is written) with path <name>.txt under one root:
// every file on disk has a record; every confirmed record's file exists with
// the content it recorded; no temporary file is left; and every record whose
// last change was never confirmed is shown by the next plan.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cli, expectExit } from "./cli.js";
import { FIXTURE_PLUGINS } from "./paths.js";

/** A record as `wfctl infra state list --json` shows it. */
export interface ListedRecord {
  name: string;
  status: string;
  provider_id: string;
  outputs: { sha256?: string };
}

/** The records of `config`, by name. */
export async function listRecords(cli: Cli, config: string, env: Record<string, string> = {}): Promise<Map<string, ListedRecord>> {
  const { result, value } = await cli.json<{ resources: ListedRecord[] }>(["infra", "state", "list", "-c", config], { env });
  if (result.code !== 0) throw new Error(`state list failed (exit ${result.code}):\n${result.stderr}`);
  return new Map(value.resources.map((r) => [r.name, r]));
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/**
 * Every way state and the files under `root` disagree (empty when they
 * agree). `listed`: resources an error listed as changed but unrecorded,
 * whose records may still hold what they were before.
 */
export function disagreements(records: ReadonlyMap<string, ListedRecord>, root: string, listed: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  const entries = existsSync(root) ? readdirSync(root) : [];
  for (const entry of entries) {
    if (/wfctl.*tmp$/.test(entry)) {
      problems.push(`temporary file left behind: ${entry}`);
      continue;
    }
    const match = /^([fs]\d+)\.txt$/.exec(entry);
    if (!match) continue;
    if (!records.has(match[1] as string)) problems.push(`${entry} exists, but state has no record of ${match[1]}`);
  }
  for (const record of records.values()) {
    if (!/^[fs]\d+$/.test(record.name)) continue;
    if (record.status === "pending" || record.status === "unknown" || listed.has(record.name)) continue;
    const path = record.provider_id || join(root, `${record.name}.txt`);
    if (!existsSync(path)) problems.push(`${record.name} is recorded (${record.status}) but ${path} does not exist`);
    else if (record.status === "active" && record.outputs.sha256 !== sha256(path)) problems.push(`${record.name}: ${path} does not hold the content state records`);
  }
  return problems;
}

/** Names of records the next plan must show as unconfirmed. */
export function unconfirmed(records: ReadonlyMap<string, ListedRecord>): string[] {
  return [...records.values()].filter((r) => r.status === "pending" || r.status === "unknown").map((r) => r.name).sort();
}

/** What a file stack holds besides its local files. */
export interface StackOptions {
  /** The iac.state module (default: filesystem state beside the configuration). */
  state?: string;
  /** settlefs.file resources sN to add (see declareSettlefs), each lingering `settleMs` after writing its file. */
  settle?: readonly number[];
  settleMs?: number;
}

/** A stack of local.file resources fN (content `content`), files under ./out, and optionally settlefs resources sN beside them. */
export function fileStack(names: readonly number[], content: string, options: StackOptions = {}): string {
  const state = options.state ?? "  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: .wfctl/state }\n";
  const lines = ["modules:", state.trimEnd(), "  - name: local", "    type: iac.provider", "    config: { provider: local, root: out }"];
  if (options.settle?.length) lines.push("  - name: settle", "    type: iac.provider", "    config: { provider: settlefs, root: out }");
  for (const i of names) lines.push(`  - name: f${i}`, "    type: local.file", "    provider: local", `    config: { path: f${i}.txt, content: "${content} ${i}\\n" }`);
  for (const i of options.settle ?? []) {
    lines.push(`  - name: s${i}`, "    type: settlefs.file", "    provider: settle", `    config: { path: s${i}.txt, content: "${content} ${i}\\n", settle_ms: ${options.settleMs ?? 0} }`);
  }
  return `${lines.join("\n")}\n`;
}

/** Declares and locks the settlefs fixture plugin for the configuration in `dir`. */
export async function declareSettlefs(cli: Cli, dir: string, config: string, env: Record<string, string> = {}): Promise<void> {
  writeFileSync(join(dir, "settlefs-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "settlefs.mjs"))};\n`);
  writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: settlefs\n    kind: provider\n    source: ./settlefs-plugin.mjs\n    version: 1.0.0\n");
  expectExit(await cli.run(["plugins", "lock", "-c", config], { env }), 0);
}

/** A small seeded random number generator (mulberry32), so a failing run can be repeated with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
