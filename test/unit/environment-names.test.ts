// Environment names follow the name rules of modules everywhere one comes in:
// the --env flag, the API's target.env (request-limits.test.ts), the keys of
// `environments:` in infra.yaml, and the state namespace derived from one. A
// name is never a path: "../../x" would put state outside the state directory.
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { environmentName } from "../../client/commands/options.js";
import { parseInfraConfig } from "../../daemon/config/load.js";
import { namespaceOf } from "../../daemon/config/model.js";
import { ErrorCode } from "../../proto/errors.js";
import { environmentNameProblem } from "../../proto/names.js";
import { thrownBy } from "../helpers/errors.js";

const FILE = "/work/infra.yaml";
const BAD = ["../x", "../../../envescape", "a/b", "a\\b", ".", "..", ".hidden", "-x", "_x", "a b", "tab\there", "new\nline", "é", "x".repeat(129)];
const GOOD = ["prod", "staging", "us-east-1.prod_2", "42", "A-b_c.d", "x".repeat(128)];

describe("environment names", () => {
  it("are module names: a letter or digit first, then letters, digits, '_', '.', '-', at most 128; empty means none", () => {
    for (const env of GOOD) expect(environmentNameProblem(env), env).toBeUndefined();
    expect(environmentNameProblem("")).toBeUndefined();
    for (const env of BAD) expect(environmentNameProblem(env), env).toContain(`must be an environment name: it must start with a letter or digit`);
    expect(environmentNameProblem("../x")).toContain('got "../x"');
  });

  it("--env refuses a bad one as a usage error naming the flag and the rule", () => {
    expect(environmentName("prod")).toBe("prod");
    for (const env of BAD) {
      expect(() => environmentName(env), env).toThrow(InvalidArgumentError);
      expect(() => environmentName(env), env).toThrow("--env must be an environment name");
    }
  });

  it("no state namespace is derived from a bad one, whoever asks", () => {
    expect(namespaceOf("")).toBe("default");
    expect(namespaceOf("prod")).toBe("prod");
    expect(thrownBy(() => namespaceOf("../../x")).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it("a configuration loaded for a bad one is refused before anything else, naming --env", () => {
    const err = thrownBy(() => parseInfraConfig(FILE, "modules: []\n", "../x"));
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toContain('--env must be an environment name');
    expect(err.details[0]?.field).toBe("--env");
  });
});

describe("environments: keys in infra.yaml", () => {
  it("a module's key outside the rules is CONFIG_INVALID at its own line and column, naming the module and the key", () => {
    const text = [
      "modules:", //                                   1
      "  - name: local", //                            2
      "    type: iac.provider", //                     3
      "    config: { provider: local, root: out }", // 4
      "  - name: page", //                             5
      "    type: local.file", //                       6
      "    provider: local", //                        7
      "    config: { path: p, content: hi }", //       8
      "    environments:", //                          9
      "      prod: {}", //                            10
      "      ../../escape:", //                       11
      "        config: { content: x }", //            12
      "",
    ].join("\n");
    const err = thrownBy(() => parseInfraConfig(FILE, text, ""));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details).toEqual([
      {
        file: FILE,
        line: 11,
        column: 7,
        module: "page",
        field: "environments.../../escape",
        message: `"../../escape" is not a valid environment name: it must start with a letter or digit and use only letters, digits, '_', '.', '-' (at most 128)`,
      },
    ]);
    expect(err.message).toContain(`${FILE}:11:7: module "page": field "environments.../../escape": "../../escape" is not a valid environment name`);
  });

  it("a verify target's key outside the rules is CONFIG_INVALID at its line too", () => {
    const text = [
      "modules: []", //                       1
      "verify:", //                           2
      "  targets:", //                        3
      "    - name: web", //                   4
      "      http: { url: http://x/ }", //   5
      "      environments:", //               6
      "        a/b: { attempts: 2 }", //      7
      "",
    ].join("\n");
    const err = thrownBy(() => parseInfraConfig(FILE, text, ""));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details).toHaveLength(1);
    expect(err.details[0]).toMatchObject({ file: FILE, line: 7, column: 9, field: "verify.targets.web.environments.a/b" });
    expect(err.details[0]?.message).toContain('"a/b" is not a valid environment name');
  });

  it("names within the rules are taken, and select their overrides", () => {
    const text = "modules:\n  - name: local\n    type: iac.provider\n    config: { provider: local }\n    environments:\n      us-east-1.prod_2: { config: { root: east } }\n";
    const config = parseInfraConfig(FILE, text, "us-east-1.prod_2");
    expect(config.namespace).toBe("us-east-1.prod_2");
    expect(config.providers.get("local")?.config).toMatchObject({ root: "east" });
  });
});
