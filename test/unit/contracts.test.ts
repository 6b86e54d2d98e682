// The contracts in proto/: generated code matches the .proto files (one
// script regenerates it), buf lint passes, and messages are typed (no
// google.protobuf.Struct anywhere).
import { execFile } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.js";

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "gen" ? [] : protoFiles(path);
    return e.name.endsWith(".proto") ? [path] : [];
  });
}

describe("proto contracts", () => {
  it("proto/gen is exactly what `npm run proto:generate` produces, and buf lint passes", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, "proto", "generate.mjs"), "--check"], { cwd: ROOT });
    expect(stdout).toContain("proto/gen is up to date");
  });

  it("declares the plugin and daemon services with typed messages only", () => {
    const files = protoFiles(join(ROOT, "proto"));
    // Declarations only: comments may mention what we chose not to use.
    const text = files.map((f) => readFileSync(f, "utf8").replace(/\/\/.*$/gm, "")).join("\n");
    expect(text).not.toMatch(/google\.protobuf\.(Struct|Value|Any)\b/);
    for (const service of ["IaCProvider", "IaCStateBackend", "PluginInfoService", "Health", "DaemonService"]) {
      expect(text).toMatch(new RegExp(`service ${service} \\{`));
    }
    for (const rpc of ["GetState", "SaveState", "ListStates", "DeleteState", "Lock", "Unlock"]) {
      expect(text).toMatch(new RegExp(`rpc ${rpc}\\(`));
    }
    expect(text).toMatch(/bytes outputs_json = \d+;/);
    expect(text).toMatch(/bytes config_json = \d+;/);
  });
});

describe("package-lock.json", () => {
  // npm ci refuses a lock file that lacks an optional dependency, even one for
  // another platform; the npm mirror some machines use lacks buf's
  // darwin/win32 builds, so `npm install` there drops them (npm/cli#9846).
  it("records every optional platform package of @bufbuild/buf, so `npm ci` works on a clean clone", () => {
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { optionalDependencies?: Record<string, string>; version?: string }>;
    };
    const buf = lock.packages["node_modules/@bufbuild/buf"];
    const wanted = Object.entries(buf?.optionalDependencies ?? {});
    expect(wanted.length).toBeGreaterThan(0);
    const missing = wanted.filter(([name, version]) => lock.packages[`node_modules/${name}`]?.version !== version).map(([name]) => name);
    expect(missing, `add lock entries for ${missing.join(", ")} (version, os, cpu, optional: true, dev: true); see the issue 2 closing note`).toEqual([]);
  });
});
