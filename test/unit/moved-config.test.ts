// The `moved:` section of infra.yaml: entries resolved for the environment,
// and every bad entry refused with its file:line and field (to not a
// resource module, from == to, a from moved twice, a chain, a from still
// configured), all at once. And how plans use them (moves.ts).
import { describe, expect, it } from "vitest";
import { ErrorCode, type WfctlError } from "../../proto/errors.js";
import { parseInfraConfig } from "../../daemon/config/load.js";
import { plannedMoves } from "../../daemon/engine/moves.js";
import { sameResource } from "../../daemon/engine/renames.js";
import type { ResourceState } from "../../proto/state-store.js";
import { thrownBy } from "../helpers/errors.js";

const FILE = "/work/infra.yaml";

const MODULES = `modules:
  - name: files
    type: iac.provider
    config: { provider: local }
  - name: page
    type: local.file
    provider: files
    config: { path: page.txt }
    environments:
      prod: { name: page-prod }
      lab: null
  - name: other
    type: local.file
    provider: files
    config: { path: other.txt }
`;

const problems = (text: string, env = ""): WfctlError => thrownBy(() => parseInfraConfig(FILE, text, env));

function record(resourceId: string, providerId = `/root/${resourceId}.txt`): ResourceState {
  return {
    resourceId,
    resourceType: "local.file",
    provider: "files",
    status: "active",
    outputs: {},
    config: {},
    createdAt: "",
    updatedAt: "",
    error: "",
    providerId,
    protected: false,
    dependsOn: [],
  };
}

describe("moved: in the configuration", () => {
  it("resolves each entry's to for the environment, and leaves out entries whose module is disabled there", () => {
    const text = `${MODULES}moved:\n  - { from: home, to: page }\n  - { from: home-prod, to: page }\n`;
    expect(parseInfraConfig(FILE, text, "").moved).toEqual([
      { from: "home", to: "page", index: 0 },
      { from: "home-prod", to: "page", index: 1 },
    ]);
    expect(parseInfraConfig(FILE, text, "prod").moved.map((m) => m.to)).toEqual(["page-prod", "page-prod"]);
    expect(parseInfraConfig(FILE, text, "lab").moved).toEqual([]);
    expect(parseInfraConfig(FILE, MODULES, "").moved).toEqual([]);
  });

  it("refuses every bad entry at once, each with file:line and field", () => {
    const text =
      `${MODULES}moved:\n` +
      "  - { from: gone, to: nowhere }\n" + // line 17: to names no module
      "  - { from: same, to: same }\n" + // 18
      "  - { from: old, to: page }\n" + // 19
      "  - { from: old, to: other }\n" + // 20: old moved twice
      "  - { from: other, to: page }\n" + // 21: other is a to (chain), and still configured
      "  - { from: files-old, to: files }\n" + // 22: to is a provider module
      "  - { from: x }\n" + // 23: to missing
      "  - { from: y, to: page, by: me }\n"; // 24: unknown key
    const error = problems(text);
    expect(error.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(error.message).toContain(`${FILE}:17:`);
    expect(error.message).toMatch(/field "moved\.0\.to": "nowhere" names no module of the configuration \(modules: files, page, other\)/);
    expect(error.message).toMatch(/:18:\d+: field "moved\.1\.to": from and to are both "same"/);
    expect(error.message).toMatch(/:20:\d+: field "moved\.3\.from": "old" is moved already by moved entry #3/);
    expect(error.message).toMatch(/:21:\d+: field "moved\.4\.from": "other" is the "to" of moved entry #4 \(a chain\)/);
    expect(error.message).toMatch(/:22:\d+: field "moved\.5\.to": "files" is an iac\.provider module; moved renames resources/);
    expect(error.message).toMatch(/:23:\d+: field "moved\.6\.to": is required/);
    expect(error.message).toMatch(/:24:\d+: field "moved\.7": unknown key\(s\) "by"/);
  });

  it("refuses a from that is still a module of the configuration", () => {
    const error = problems(`${MODULES}moved:\n  - { from: other, to: page }\n`);
    expect(error.message).toMatch(/:17:\d+: field "moved\.0\.from": "other" is still a module of the configuration/);
    // Its environment name counts too.
    expect(problems(`${MODULES}moved:\n  - { from: page-prod, to: other }\n`, "prod").message).toMatch(/"page-prod" is still a module/);
  });

  it("a list is required", () => {
    expect(problems(`${MODULES}moved: { from: a, to: page }\n`).message).toMatch(/field "moved": must be a list of \{ from: OLD, to: NEW \} entries/);
  });
});

describe("moved: in plans", () => {
  const config = (text: string) => parseInfraConfig(FILE, `${MODULES}moved:\n${text}`, "");

  it("plans the record from as its new name, only while no record has the new name", () => {
    const c = config("  - { from: home, to: page }\n");
    const moves = plannedMoves(c, [record("home"), record("other")]);
    expect([...moves.keys()]).toEqual(["page"]);
    expect(moves.get("page")?.from).toBe("home");
    expect(moves.get("page")?.record.resourceId).toBe("page");
    expect(moves.get("page")?.record.providerId).toBe("/root/home.txt");
    // Already moved (or both exist): nothing to do.
    expect(plannedMoves(c, [record("home"), record("page")]).size).toBe(0);
    expect(plannedMoves(c, [record("page")]).size).toBe(0);
  });

  it("two records moved to one name is an error naming both", () => {
    const c = config("  - { from: home, to: page }\n  - { from: start, to: page }\n");
    expect(() => plannedMoves(c, [record("home"), record("start")])).toThrow(/state has both home and start, and both are moved to page/);
  });

  it("two records describe one resource when provider, type and provider id match (an id is needed)", () => {
    expect(sameResource(record("a", "/x"), record("b", "/x"))).toBe(true);
    expect(sameResource(record("a", "/x"), record("b", "/y"))).toBe(false);
    expect(sameResource(record("a", ""), record("b", ""))).toBe(false);
    expect(sameResource(record("a", "/x"), { ...record("b", "/x"), resourceType: "local.directory" })).toBe(false);
  });
});
