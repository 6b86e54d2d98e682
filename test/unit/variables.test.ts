// Input variables: their types, rules, declarations and uses (checked when
// the file is parsed), their values from each source in precedence order, and
// their substitution into module configurations (taint included).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseInfraConfig } from "../../daemon/config/load.js";
import type { InfraConfig, VariableRule } from "../../daemon/config/model.js";
import { applyVariables } from "../../daemon/config/variable-substitution.js";
import { inferType, parseVariableText, ruleFailure, ruleProblems, typeProblem } from "../../daemon/config/variable-types.js";
import type { VariableInputs } from "../../daemon/config/variable-values.js";
import { ErrorCode } from "../../proto/errors.js";
import { rejectionOf, thrownBy } from "../helpers/errors.js";

const dir = mkdtempSync(join(tmpdir(), "wft-vars-"));
const FILE = join(dir, "infra.yaml");

const rule = (checks: Partial<VariableRule>): VariableRule => ({ pattern: undefined, allowed: undefined, min: undefined, max: undefined, message: "bad", ...checks });

/** A configuration with `variables` declared and one provider and one file resource using them. */
function configWith(variables: string, content = '"tag=${var.image_tag}"', extra = ""): string {
  return `variables:
${variables}
modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: page
    type: local.file
    provider: local
    config:
      path: page.txt
      content: ${content}
${extra}`;
}

const inputs = (given: Partial<VariableInputs> = {}): VariableInputs => ({ environment: {}, variables: {}, variableFiles: [], ...given });
const parse = (text: string): InfraConfig => parseInfraConfig(FILE, text, "");
const contentOf = (config: InfraConfig) => config.resources.find((r) => r.name === "page")?.config["content"];

function varFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("variable types", () => {
  it("parses text by the declared type, and says what a bad value must be", () => {
    expect(parseVariableText("v1.2", "string")).toEqual({ value: "v1.2" });
    expect(parseVariableText("3", "number")).toEqual({ value: 3 });
    expect(parseVariableText("-2.5e1", "number")).toEqual({ value: -25 });
    expect(parseVariableText("true", "bool")).toEqual({ value: true });
    expect(parseVariableText('["a", 2]', "list")).toEqual({ value: ["a", 2] });
    expect(parseVariableText("[a, b]", "list")).toEqual({ value: ["a", "b"] });
    expect(parseVariableText("{team: web, n: 2}", "map")).toEqual({ value: { team: "web", n: 2 } });
    expect(parseVariableText("three", "number")).toEqual({ problem: "must be a number (e.g. 3 or 2.5)" });
    expect(parseVariableText("0x10", "number")).toHaveProperty("problem");
    expect(parseVariableText("yes", "bool")).toEqual({ problem: "must be true or false" });
    expect(parseVariableText("{a: 1}", "list")).toHaveProperty("problem");
    expect(parseVariableText("[unclosed", "list")).toHaveProperty("problem");
    expect(parseVariableText("[1]", "map")).toHaveProperty("problem");
  });

  it("checks values of a type, and infers a type from a default", () => {
    expect(typeProblem("x", "string")).toBeUndefined();
    expect(typeProblem(1.5, "string")).toBe('must be a string (quote it: "…")');
    expect(typeProblem(Number.POSITIVE_INFINITY, "number")).toBe("must be a number");
    expect(typeProblem("true", "bool")).toBe("must be true or false");
    expect(typeProblem({ a: [1] }, "map")).toBeUndefined();
    expect(typeProblem([1], "map")).toBe("must be a map");
    expect([inferType(3), inferType(false), inferType([]), inferType({}), inferType("x"), inferType(undefined)]).toEqual(["number", "bool", "list", "map", "string", "string"]);
  });

  it("applies validation rules: pattern, allowed, min and max (numbers, lengths)", () => {
    const passesRule = (value: Parameters<typeof ruleFailure>[0], r: VariableRule) => ruleFailure(value, r) === undefined;
    expect(passesRule("v1.2.3", rule({ pattern: "^v\\d+\\.\\d+\\.\\d+$" }))).toBe(true);
    expect(passesRule("latest", rule({ pattern: "^v\\d+" }))).toBe(false);
    expect(passesRule("eu", rule({ allowed: ["eu", "us"] }))).toBe(true);
    expect(passesRule("ap", rule({ allowed: ["eu", "us"] }))).toBe(false);
    expect(passesRule(3, rule({ min: 1, max: 5 }))).toBe(true);
    expect(passesRule(9, rule({ min: 1, max: 5 }))).toBe(false);
    expect(passesRule("short", rule({ min: 12 }))).toBe(false);
    expect(passesRule(["a", "b"], rule({ max: 1 }))).toBe(false);
    expect(ruleProblems(rule({ pattern: "x" }), "number")).toEqual([{ key: "pattern", message: "applies to strings only (this variable is a number)" }]);
    expect(ruleProblems(rule({ allowed: [1, "2"] }), "number")[0]?.key).toBe("allowed");
    expect(ruleProblems(rule({ min: 5, max: 1 }), "number")).toEqual([{ key: "min", message: "is greater than max (1)" }]);
    expect(ruleProblems(rule({ min: 1 }), "bool")[0]?.key).toBe("min");
    expect(ruleFailure("latest", rule({ pattern: "^v", message: "must be a version" }))).toBe("must be a version");
  });

  it("a pattern that backtracks without end is stopped and reported, never holding the event loop", () => {
    const started = Date.now();
    expect(ruleFailure(`${"a".repeat(40)}b`, rule({ pattern: "^(a+)+$" }))).toMatch(/^its pattern took longer than 250 ms to test/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(ruleFailure("aaa", rule({ pattern: "^(a+)+$" }))).toBeUndefined();
  });
});

describe("declaring and using variables", () => {
  it("declares variables with their types, defaults and locations, and leaves ${var.NAME} for the request", () => {
    const config = parse(configWith('  image_tag: { description: "the tag" }\n  replicas: { default: 2 }\n  db_password: { sensitive: true }'));
    expect(config.variableDeclarations.map((d) => [d.name, d.type, d.default, d.sensitive, d.location])).toEqual([
      ["image_tag", "string", undefined, false, `${FILE}:2`],
      ["replicas", "number", 2, false, `${FILE}:3`],
      ["db_password", "string", undefined, true, `${FILE}:4`],
    ]);
    expect(config.variables).toEqual([]);
    expect(contentOf(config)).toBe("tag=${var.image_tag}");
    expect(config.resources[0]?.references).toEqual([]);
  });

  it("refuses bad declarations, each at its file:line", () => {
    const err = thrownBy(() =>
      parse(
        configWith(
          [
            "  image_tag: {}",
            "  9lives: {}",
            "  count: { type: integer }",
            '  size: { type: number, default: "big" }',
            "  region: { validation: [{ pattern: '(' , message: m }] }",
            "  zone: { validation: [{ message: m }] }",
            "  flag: { type: bool, validation: [{ min: 1, message: m }] }",
            "  other: { secret: true }",
            "  listy: [1]",
          ].join("\n"),
        ),
      ),
    );
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    const lines = err.details.map((d) => `${d.line}: ${d.message}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^3: variable name "9lives" must start with a letter/),
        expect.stringMatching(/^4: must be one of "string", "number", "bool", "list", "map"/),
        expect.stringMatching(/^5: variable "size": default must be a number/),
        expect.stringMatching(/^6: must be a regular expression/),
        expect.stringMatching(/^7: needs a check: pattern, allowed, min or max/),
        expect.stringMatching(/^8: variable "flag": min applies to numbers/),
        expect.stringMatching(/^9: unknown key\(s\) "secret"/),
        expect.stringMatching(/^10: variable "listy" must be a mapping/),
      ]),
    );
    expect(err.details.every((d) => d.file === FILE)).toBe(true);
  });

  it("refuses a use of an undeclared variable at its file:line, naming the declared ones", () => {
    const err = thrownBy(() => parse(configWith("  image_tag: {}", '"${var.nope}"')));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details).toEqual([expect.objectContaining({ file: FILE, line: 12, module: "page", field: "config.content" })]);
    expect(err.message).toContain('${var.nope}: no variable named "nope" is declared (declared: image_tag)');
  });

  it("refuses ${var.a.b}, a variable choosing a provider's plugin, and variables in verify", () => {
    const text = configWith("  image_tag: {}", '"${var.image_tag.x}"', "verify:\n  targets:\n    - name: web\n      tcp: { host: '${var.image_tag}', port: 80 }\n").replace(
      "config: { provider: local, root: out }",
      'config: { provider: "${var.image_tag}", root: out }',
    );
    const messages = thrownBy(() => parse(text)).details.map((d) => d.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringContaining("${var.image_tag.x}: names a part of a variable"),
        expect.stringContaining("${var.image_tag}: a variable cannot choose the provider plugin"),
        expect.stringContaining("${var.image_tag}: the verify section takes no variables"),
      ]),
    );
  });
});

describe("variable values", () => {
  const declarations = '  image_tag: { default: "v0" }\n  replicas: { type: number, default: 1, validation: [{ min: 1, max: 5, message: "replicas must be 1 to 5" }] }\n  db_password: { sensitive: true, validation: [{ min: 12, message: "the password needs 12 characters or more" }] }';
  const content = '"tag=${var.image_tag} n=${var.replicas} pw=${var.db_password}"';
  const config = parse(configWith(declarations, content, '  - name: count\n    type: local.file\n    provider: local\n    config: { path: n.txt, content: "${var.replicas}", mode: "${var.image_tag}" }\n'));
  const password = "correct-horse-battery";

  it("takes defaults, then WFCTL_VAR_, then each --var-file in order, then --var", async () => {
    const first = varFile("first.yaml", "image_tag: v-file1\nreplicas: 3\n");
    const second = varFile("second.json", '{\n  "image_tag": "v-file2",\n  "db_password": "from-file-password"\n}\n');
    const env = { WFCTL_VAR_image_tag: "v-env", WFCTL_VAR_replicas: "2", WFCTL_VAR_db_password: password };
    const source = async (given: Partial<VariableInputs>) => (await applyVariables(config, inputs(given))).variables.map((v) => [v.name, v.value, v.source]);
    expect(await source({ environment: env })).toEqual([
      ["image_tag", "v-env", "WFCTL_VAR_image_tag"],
      ["replicas", 2, "WFCTL_VAR_replicas"],
      ["db_password", password, "WFCTL_VAR_db_password"],
    ]);
    expect(await source({ environment: env, variableFiles: [first, second] })).toEqual([
      ["image_tag", "v-file2", `${second}:2`],
      ["replicas", 3, `${first}:2`],
      ["db_password", "from-file-password", `${second}:3`],
    ]);
    expect(await source({ environment: env, variableFiles: [second, first], variables: { replicas: "4" } })).toEqual([
      ["image_tag", "v-file1", `${first}:1`],
      ["replicas", 4, "--var"],
      ["db_password", "from-file-password", `${second}:3`],
    ]);
    expect((await source({ variables: { db_password: password } }))[0]).toEqual(["image_tag", "v0", "default"]);
  });

  it("substitutes values: whole values keep their type, others interpolate; sensitive ones taint the fields they reach", async () => {
    const applied = await applyVariables(config, inputs({ variables: { image_tag: "v1", replicas: "3", db_password: password } }));
    const page = applied.resources.find((r) => r.name === "page");
    const count = applied.resources.find((r) => r.name === "count");
    expect(page?.config["content"]).toBe(`tag=v1 n=3 pw=${password}`);
    expect(page?.sensitiveFields).toEqual(["content"]);
    expect(count?.config).toEqual({ path: "n.txt", content: 3, mode: "v1" });
    expect(count?.sensitiveFields).toEqual([]);
    // The cached configuration is not changed.
    expect(contentOf(config)).toBe("tag=${var.image_tag} n=${var.replicas} pw=${var.db_password}");
  });

  it("keeps `${` in a value as text in a resource (never a reference), and leaves $${var.x} as written", async () => {
    const text = configWith("  image_tag: {}", '"a ${var.image_tag} b $${var.image_tag}"').replace("root: out }", 'root: "${var.image_tag}" }');
    const applied = await applyVariables(parse(text), inputs({ variables: { image_tag: "${page.path}" } }));
    expect(contentOf(applied)).toBe("a $${page.path} b $${var.image_tag}");
    expect(applied.providers.get("local")?.config["root"]).toBe("${page.path}");
  });

  it("the state module, providers and environment overrides take variables too; a bad use in an override is located there", async () => {
    const text = `variables:
  state_dir: { default: .state }
  root: {}
modules:
  - name: state
    type: iac.state
    config: { backend: filesystem, directory: "\${var.state_dir}/x" }
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
    environments:
      staging:
        config: { root: "\${var.root}" }
`;
    const staging = await applyVariables(parseInfraConfig(FILE, text, "staging"), inputs({ variables: { root: "out-staging" } }));
    expect(staging.state.config["directory"]).toBe(".state/x");
    expect(staging.providers.get("local")?.config["root"]).toBe("out-staging");
    const err = thrownBy(() => parseInfraConfig(FILE, text.replace('root: "${var.root}"', 'root: "${var.rot}"'), "staging"));
    expect(err.details).toEqual([expect.objectContaining({ line: 13, module: "local", field: "config.root" })]);
  });

  it("a variable with no value is an error at its declaration, naming the three ways to set it", async () => {
    const err = await rejectionOf(applyVariables(config, inputs()));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details).toEqual([expect.objectContaining({ file: FILE, line: 4, field: "variables.db_password" })]);
    expect(err.message).toContain('variable "db_password" has no value: set it with --var db_password=VALUE, in a --var-file, or with WFCTL_VAR_db_password in the environment');
  });

  it("--var of an undeclared variable, or of the wrong type, is INVALID_ARGUMENT naming the flag", async () => {
    const err = await rejectionOf(applyVariables(config, inputs({ variables: { nope: "1", replicas: "many", db_password: password } })));
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.details).toEqual([
      { field: "--var nope", message: `no variable named "nope" is declared in ${FILE} (declared: image_tag, replicas, db_password)` },
      { field: "--var replicas", message: 'variable "replicas" must be a number (e.g. 3 or 2.5), got "many"' },
    ]);
  });

  it("WFCTL_VAR_ of the wrong type is named; a sensitive value is never quoted", async () => {
    const env = await rejectionOf(applyVariables(config, inputs({ environment: { WFCTL_VAR_replicas: "x" }, variables: { db_password: password } })));
    expect(env.details).toEqual([{ field: "WFCTL_VAR_replicas", message: 'variable "replicas" must be a number (e.g. 3 or 2.5), got "x"' }]);
    const short = await rejectionOf(applyVariables(config, inputs({ variables: { db_password: "hunter2" } })));
    expect(short.message).toContain('variable "db_password": the password needs 12 characters or more (value from --var)');
    expect(short.message).not.toContain("hunter2");
  });

  it("a --var-file's undeclared names and wrong types are CONFIG_INVALID at that file's lines", async () => {
    const bad = varFile("bad.yaml", "image_tag: v1\nnope: 1\nreplicas: \"3\"\ndb_password: 12345678901234\n");
    const err = await rejectionOf(applyVariables(config, inputs({ variableFiles: [bad] })));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details.map((d) => [d.file, d.line, d.message])).toEqual([
      [bad, 2, `variable "nope" is not declared in ${FILE} (declared: image_tag, replicas, db_password)`],
      [bad, 3, 'variable "replicas" must be a number'],
      [bad, 4, 'variable "db_password" must be a string (quote it: "…")'],
    ]);
  });

  it("a failed rule names its message and where the value came from", async () => {
    const file = varFile("many.yaml", "replicas: 9\n");
    const err = await rejectionOf(applyVariables(config, inputs({ variableFiles: [file], variables: { db_password: password } })));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details).toEqual([expect.objectContaining({ file, line: 1, message: `variable "replicas": replicas must be 1 to 5 (value 9 from ${file}:1)` })]);
  });
});
