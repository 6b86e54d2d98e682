// --target and --replace as pure logic over a real loaded configuration:
// which resources a scoped plan covers (what a target depends on, by
// depends_on and by reference; for a destroy, what depends on it), and the
// errors that name the flag.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../proto/errors.js";
import type { ResourceState } from "../../proto/state-store.js";
import { loadInfraConfig } from "../../daemon/config/load.js";
import type { InfraConfig } from "../../daemon/config/model.js";
import { REPLACE_REASON, forceReplace, selectScope } from "../../daemon/engine/plan-scope.js";
import type { PlannedChange } from "../../daemon/engine/plan-model.js";
import { tempDir } from "../helpers/paths.js";

const CONFIG = `modules:
  - name: local
    type: iac.provider
    config: { provider: local }
  - name: dir
    type: local.directory
    provider: local
    config: { path: d }
  - name: file
    type: local.file
    provider: local
    config: { path: "\${dir.path}/f", content: x }
  - name: deep
    type: local.file
    provider: local
    depends_on: [file]
    config: { path: deep, content: x }
  - name: other
    type: local.file
    provider: local
    config: { path: other, content: x }
`;

function record(name: string, dependsOn: string[] = []): ResourceState {
  return { resourceId: name, resourceType: "local.file", provider: "local", status: "active", outputs: {}, config: {}, createdAt: "", updatedAt: "", error: "", providerId: name, protected: false, dependsOn };
}

function caught(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected an error");
}

describe("plan scope (--target, --replace)", () => {
  const temp = tempDir("wft-scope-unit-");
  let config: InfraConfig;
  beforeAll(async () => {
    const path = join(temp.path, "infra.yaml");
    writeFileSync(path, CONFIG);
    config = await loadInfraConfig(path, "");
  });
  afterAll(() => temp.cleanup());

  it("no --target: everything, no warning", () => {
    expect(selectScope(config, [], { targets: [], replace: [] }, false)).toEqual({ resources: undefined, records: undefined, warnings: [] });
  });

  it("a target brings what it depends on, transitively, by depends_on and by reference, and nothing else", () => {
    const selection = selectScope(config, [record("gone")], { targets: ["deep"], replace: [] }, false);
    expect([...(selection.resources ?? [])].sort()).toEqual(["deep", "dir", "file"]);
    expect([...(selection.records ?? [])]).toEqual([]);
    expect(selection.warnings).toEqual([expect.stringContaining("partial plan: --target deep covers only it and what it depends on (dir, file)")]);
  });

  it("a target only state still holds is a delete of that record alone", () => {
    const selection = selectScope(config, [record("gone"), record("other")], { targets: ["gone"], replace: [] }, false);
    expect([...(selection.resources ?? [])]).toEqual([]);
    expect([...(selection.records ?? [])]).toEqual(["gone"]);
  });

  it("for a destroy, a target brings the records that depend on it", () => {
    const priors = [record("dir"), record("file", ["dir"]), record("deep", ["file"]), record("other")];
    const selection = selectScope(config, priors, { targets: ["file"], replace: [] }, true);
    expect([...(selection.records ?? [])].sort()).toEqual(["deep", "file"]);
    expect(selection.warnings).toEqual([expect.stringContaining("partial destroy: --target file covers only it and what depends on it (deep)")]);
  });

  it("the deposed records of a create_before_destroy replace that did not finish go with their resource", () => {
    const priors = [record("dir"), record("dir~deposed-0123abcd"), record("file", ["dir"]), record("other~deposed-0123abcd")];
    const apply = selectScope(config, priors, { targets: ["dir"], replace: [] }, false);
    expect([...(apply.records ?? [])]).toEqual(["dir~deposed-0123abcd"]);
    const destroy = selectScope(config, priors, { targets: ["dir"], replace: [] }, true);
    expect([...(destroy.records ?? [])].sort()).toEqual(["dir", "dir~deposed-0123abcd", "file"]);
    expect(destroy.warnings).toEqual([expect.stringContaining("covers only it and what depends on it (file)")]);
  });

  it("unknown names are INVALID_ARGUMENT naming the flag, the name and the file", () => {
    const target = caught(() => selectScope(config, [], { targets: ["nope"], replace: [] }, false));
    expect(target.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(target.message).toBe(`--target "nope": no resource of that name in ${config.file} or in state`);
    expect(caught(() => selectScope(config, [], { targets: [], replace: ["nope"] }, false)).message).toBe(`--replace "nope": no resource of that name in ${config.file}`);
    expect(caught(() => selectScope(config, [record("gone")], { targets: [], replace: ["gone"] }, false)).message).toContain('--replace "gone": it is no longer in');
    expect(caught(() => selectScope(config, [], { targets: ["file"], replace: ["other"] }, false)).message).toContain("outside what --target selects (dir, file)");
    expect(caught(() => selectScope(config, [], { targets: [], replace: ["file"] }, true)).message).toContain("--replace does not apply to a destroy");
  });

  it("forceReplace replaces what exists, with its reason; a create stays a create and a ghost stays, each with a warning", () => {
    const base = { name: "file", type: "local.file", provider: "local", fields: [], dependsOn: [], protected: false, resource: undefined, prior: record("file"), ghost: false, refreshed: record("file"), recordOnly: false, recorded: undefined, sensitiveFields: [] };
    const warnings: string[] = [];
    const noop: PlannedChange = { ...base, action: "noop" };
    expect(forceReplace(noop, warnings)).toMatchObject({ action: "replace", reason: REPLACE_REASON, refreshed: undefined });
    expect(forceReplace({ ...base, action: "create", prior: undefined }, warnings).action).toBe("create");
    expect(forceReplace({ ...noop, ghost: true }, warnings).action).toBe("noop");
    expect(warnings).toEqual([expect.stringContaining("does not exist yet, so it is simply created"), expect.stringContaining("a ghost")]);
  });
});
