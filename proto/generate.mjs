#!/usr/bin/env node
// Regenerates proto/gen/ from the .proto files with buf + protoc-gen-es (both
// npm devDependencies; nothing else to install). `--check` generates into a
// temporary directory and fails if proto/gen/ differs from it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const protoDir = dirname(fileURLToPath(import.meta.url));
const buf = join(protoDir, "..", "node_modules", ".bin", "buf");
const run = (args) => execFileSync(buf, args, { cwd: protoDir, stdio: "inherit" });

function listFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

run(["lint"]);
if (process.argv.includes("--check")) {
  const out = mkdtempSync(join(tmpdir(), "wfctl-proto-"));
  try {
    run(["generate", "--output", out]);
    const fresh = join(out, "gen");
    const current = join(protoDir, "gen");
    const a = listFiles(fresh).map((f) => relative(fresh, f));
    const b = listFiles(current).map((f) => relative(current, f));
    const stale = [];
    for (const f of new Set([...a, ...b])) {
      let x = "", y = "";
      try { x = readFileSync(join(fresh, f), "utf8"); } catch { /* missing */ }
      try { y = readFileSync(join(current, f), "utf8"); } catch { /* missing */ }
      if (x !== y) stale.push(f);
    }
    if (stale.length > 0) {
      console.error(`proto/gen is stale; run \`npm run proto:generate\`. Differs: ${stale.join(", ")}`);
      process.exit(1);
    }
    console.log("proto/gen is up to date");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
} else {
  run(["generate"]);
}
