import { describe, expect, it } from "vitest";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { parseInfraConfig } from "../../daemon/config/load.js";
import { mergeConfig } from "../../daemon/config/environments.js";
import { moduleAtLine } from "../../daemon/config/source.js";
import { thrownBy } from "../helpers/errors.js";

const FILE = "/work/infra.yaml";

/** The error parseInfraConfig throws for `text`. */
const problems = (text: string, env = ""): WfctlError => thrownBy(() => parseInfraConfig(FILE, text, env));

const PROVIDER = `  - name: local
    type: iac.provider
    config: { provider: local, root: out }
`;

describe("loading infra.yaml", () => {
  it("resolves a valid configuration: providers, resources, dependencies, default state", () => {
    const config = parseInfraConfig(
      FILE,
      `modules:
${PROVIDER}  - name: dir
    type: local.directory
    provider: local
    config: { path: d }
  - name: file
    type: local.file
    provider: local
    depends_on: [dir]
    protected: true
    config: { path: d/f, content: hi }
`,
      "",
    );
    expect(config.dir).toBe("/work");
    expect(config.namespace).toBe("default");
    expect(config.state).toMatchObject({ backend: "filesystem", config: { directory: ".wfctl/state" } });
    expect(config.providers.get("local")).toMatchObject({ plugin: "local", config: { root: "out" } });
    expect(config.resources.map((r) => [r.name, r.dependsOn, r.protected])).toEqual([
      ["dir", [], false],
      ["file", ["dir"], true],
    ]);
  });

  it("names the file, line, module and field of an unknown module type", () => {
    const err = problems(`modules:\n${PROVIDER}  - name: thing\n    type: widget\n    provider: local\n`);
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toContain(`${FILE}:6:11: module "thing": field "type": unknown module type "widget"`);
    expect(err.details[0]).toMatchObject({ file: FILE, line: 6, module: "thing", field: "type" });
  });

  it("refuses a resource without a provider, listing the declared ones", () => {
    const err = problems(`modules:\n${PROVIDER}  - name: f\n    type: local.file\n    config: { path: a }\n`);
    expect(err.message).toContain('module "f": field "provider": missing provider');
    expect(err.message).toContain("(declared: local)");
  });

  it("refuses a provider reference to a module that does not exist", () => {
    const err = problems(`modules:\n${PROVIDER}  - name: f\n    type: local.file\n    provider: nope\n`);
    expect(err.message).toContain('provider "nope" does not exist');
  });

  it("names the modules of a dependency cycle", () => {
    const err = problems(`modules:
${PROVIDER}  - name: a
    type: local.file
    provider: local
    depends_on: [b]
  - name: b
    type: local.file
    provider: local
    depends_on: [c]
  - name: c
    type: local.file
    provider: local
    depends_on: [a]
`);
    expect(err.message).toMatch(/module "a": field "depends_on": dependency cycle: a → b → c → a/);
  });

  it("reports a YAML syntax error with its position", () => {
    const err = problems("modules:\n  - name: a\n    type: [local.file\n");
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toMatch(new RegExp(`${FILE}:\\d+:\\d+: module "a": YAML syntax error`));
  });

  it("finds the module a syntax error is in from the text alone", () => {
    const text = [
      "modules:", //                      1
      "  - name: first", //               2
      "    type: local.file", //          3
      "  - type: local.file", //          4
      "    config:", //                   5
      "      name: not-a-module-name", // 6
      "    name: second", //              7
      "    environments:", //             8
      "      prod: { name: renamed }", // 9
    ].join("\n");
    expect(moduleAtLine(text, 1)).toBeUndefined();
    expect(moduleAtLine(text, 3)).toBe("first");
    expect(moduleAtLine(text, 5)).toBe("second");
    expect(moduleAtLine(text, 9)).toBe("second");
    expect(moduleAtLine("modules: [\n", 1)).toBeUndefined();
  });

  it("reports every problem at once, each with its own module", () => {
    const err = problems(`modules:
${PROVIDER}  - name: a
    type: local.file
  - name: b
    type: nothing
    provider: local
  - name: c
    type: local.file
    provider: local
    depends_on: [ghost]
    colour: red
`);
    expect(err.details.map((d) => d.module)).toEqual(expect.arrayContaining(["a", "b", "c"]));
    expect(err.message).toContain('unknown key(s) "colour"');
  });

  it("refuses duplicate names and a second state module", () => {
    const err = problems(`modules:
${PROVIDER}  - name: local
    type: local.file
    provider: local
  - name: s1
    type: iac.state
  - name: s2
    type: iac.state
`);
    expect(err.message).toContain("duplicate module name");
    expect(err.message).toContain("only one iac.state module is allowed");
  });

  it("refuses an empty file and a file without modules", () => {
    expect(problems("").message).toContain("the file is empty");
    expect(problems("resources: []\n").message).toContain('field "modules": is required');
  });
});

describe("environment overrides", () => {
  const text = `modules:
  - name: state
    type: iac.state
    config: { backend: filesystem, directory: state }
    environments:
      prod:
        config: { directory: /srv/state }
  - name: local
    type: iac.provider
    config: { provider: local, root: out, nested: { a: 1, b: 2 } }
    environments:
      prod:
        config: { root: out-prod, nested: { b: 3 } }
  - name: db
    type: local.file
    provider: local
    config: { path: db, content: base }
    environments:
      prod:
        name: db-prod
        config: { content: prod }
      dev: null
  - name: app
    type: local.file
    provider: local
    depends_on: [db]
    config: { path: app }
`;

  it("renames, merges config deeply, and re-points dependencies to the resolved name", () => {
    const config = parseInfraConfig(FILE, text, "prod");
    expect(config.namespace).toBe("prod");
    expect(config.state.config).toEqual({ directory: "/srv/state" });
    expect(config.providers.get("local")?.config).toEqual({ root: "out-prod", nested: { a: 1, b: 3 } });
    expect(config.resources.find((r) => r.baseName === "db")).toMatchObject({ name: "db-prod", config: { path: "db", content: "prod" } });
    expect(config.resources.find((r) => r.name === "app")?.dependsOn).toEqual(["db-prod"]);
  });

  it("disables a module set to null, and says so when something depends on it", () => {
    const err = problems(text, "dev");
    expect(err.message).toContain('depends on "db", which is disabled in environment "dev"');
  });

  it("uses the base names without an environment", () => {
    const config = parseInfraConfig(FILE, text, "");
    expect(config.resources.map((r) => r.name)).toEqual(["db", "app"]);
    expect(config.namespace).toBe("default");
  });

  it("merges objects key by key and replaces everything else", () => {
    expect(mergeConfig({ a: { x: 1, y: [1, 2] }, b: 1 }, { a: { y: [3] }, c: null })).toEqual({ a: { x: 1, y: [3] }, b: 1, c: null });
  });
});

describe("outputs", () => {
  const modules = `modules:
${PROVIDER}  - name: db.main
    type: local.file
    provider: local
    config: { path: db, content: base }
    environments:
      prod: { name: db-prod }
      dev: null
`;

  it("resolves module.field sources (module names may contain dots) to the environment's resource name", () => {
    const text = `${modules}outputs:
  db_path: { source: db.main.absolute_path, description: where }
  db_secret: { source: db.main.content, sensitive: true }
`;
    expect(parseInfraConfig(FILE, text, "").outputs).toEqual([
      { name: "db_path", module: "db.main", resource: "db.main", field: "absolute_path", sensitive: false, description: "where", sinks: [] },
      { name: "db_secret", module: "db.main", resource: "db.main", field: "content", sensitive: true, description: "", sinks: [] },
    ]);
    expect(parseInfraConfig(FILE, text, "prod").outputs[0]).toMatchObject({ resource: "db-prod" });
    // Disabled there: loading is fine, reading the output is the error.
    expect(parseInfraConfig(FILE, text, "dev").outputs[0]).toMatchObject({ module: "db.main", resource: undefined });
  });

  it("fills in each sink's defaults and locates it; two sinks writing one secret (names ignore case) are refused", () => {
    const text = `${modules}outputs:
  db_secret:
    source: db.main.content
    sinks:
      - { type: github_secret }
      - { type: github_secret, name: other, repository: o/r, environment: prod, token_env: GH, api_url: "https://ghe.example.com/api/v3/", on_apply: true }
      - { type: github_env, name: DB }
`;
    const [output] = parseInfraConfig(FILE, text, "").outputs;
    const line = text.split("\n").findIndex((l) => l.includes("type: github_secret }")) + 1;
    expect(output?.sinks).toEqual([
      { type: "github_secret", name: "db_secret", repository: "", environment: "", tokenEnv: "GITHUB_TOKEN", apiUrl: "", onApply: false, location: `${FILE}:${line}` },
      { type: "github_secret", name: "other", repository: "o/r", environment: "prod", tokenEnv: "GH", apiUrl: "https://ghe.example.com/api/v3", onApply: true, location: `${FILE}:${line + 1}` },
      { type: "github_env", name: "DB", repository: "", environment: "", tokenEnv: "", apiUrl: "", onApply: false, location: `${FILE}:${line + 2}` },
    ]);
    const err = problems(`${text}  again:
    source: db.main.path
    sinks:
      - { type: github_secret, name: DB_SECRET }
      - { type: github_secret, name: OTHER, repository: o/r }
      - { type: github_env, name: db }
`);
    expect(err.details.map((d) => [d.field, d.message])).toEqual([
      ["outputs.again.sinks.0", `writes the same GitHub secret DB_SECRET as the sink at ${FILE}:${line}`],
    ]);
  });

  it("names the output, line and field of a bad source, a non-resource source, an unknown key and a bad name", () => {
    const err = problems(`${modules}outputs:
  a: { source: nothing.here }
  b: { source: local.root }
  c: { source: db.main }
  d: { source: db.main.content, secret: true }
  9bad: { source: db.main.content }
`);
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toContain(`${FILE}:13:16: field "outputs.a.source"`);
    expect(err.message).toContain('output "a": source "nothing.here" names no module (modules: local, db.main)');
    expect(err.message).toContain('output "b": source "local.root" names a module of type iac.provider');
    expect(err.message).toContain('output "c": source "db.main" must be module.field');
    expect(err.message).toContain('unknown key(s) "secret"');
    expect(err.message).toContain(`output name "9bad" must start with a letter or '_'`);
  });
});

describe("environment names", () => {
  const text = `modules:
${PROVIDER}  - name: db
    type: local.file
    provider: local
    config: { path: db }
    environments:
      staging: { name: db-staging }
      prod: {}
`;

  it("refuses an environment the file never mentions (a typo would plan everything anew), naming the known ones", () => {
    const err = problems(text, "stagign");
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toContain('--env "stagign": /work/infra.yaml mentions no environment of that name (it mentions: prod, staging)');
  });

  it("takes an environment declared by an empty entry, and any name when the file declares none", () => {
    expect(parseInfraConfig(FILE, text, "prod").resources[0]?.name).toBe("db");
    expect(parseInfraConfig(FILE, `modules:\n${PROVIDER}`, "review-42").namespace).toBe("review-42");
  });
});
