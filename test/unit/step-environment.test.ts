// Which of the client's variables travel with a request (EnvironmentNames):
// the `*_env` values of every module and environment override, the
// reads_env of each plugin the file names (built-in or the project's), PG*
// for a postgres state module, and always WFCTL_VAR_*; never a base variable
// or NODE_OPTIONS. A file that does not load still gets an answer, and the
// answer follows the file when it changes. The client then picks its
// variables by those names.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { environmentReferences, pluginsNamed } from "../../daemon/config/env-references.js";
import { INPUT_VARIABLES, environmentNames, namesFor } from "../../daemon/engine/environment-names.js";
import { PluginCatalog, builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { stepEnvironment } from "../../client/step-environment.js";
import { tempDir } from "../helpers/paths.js";

const catalog = new PluginCatalog(builtinPlugins());
const aws = builtinPlugins().find((s) => s.kind === "provider" && s.name === "s3")?.readsEnv ?? [];

const CONFIG = {
  modules: [
    { name: "state", type: "iac.state", config: { backend: "postgres", url_env: "WFCTL_STATE_URL", password_env: "STATE_PW" }, environments: { prod: { config: { url_env: "PROD_STATE_URL" } } } },
    { name: "pg", type: "iac.provider", config: { provider: "postgres", url_env: "ADMIN_URL" } },
    { name: "files", type: "iac.provider", config: { provider: "local", root: "out" }, environments: { prod: { config: { provider: "s3", access_key_id_env: "PROD_KEY" } } } },
    { name: "role", type: "postgres.role", provider: "pg", config: { name: "app", password_env: "APP_PASSWORD" } },
    { name: "bad", type: "local.file", provider: "files", config: { path_env: "NODE_OPTIONS", home_env: "HOME" } },
  ],
  outputs: { token: { source: "role.name", sinks: [{ type: "github_secret", name: "T", token_env: "GH_SINK_TOKEN" }] } },
};

describe("the variables a target may read", () => {
  it("are every *_env value of its modules and overrides, the reads_env of each plugin it names, PG* for postgres state, and WFCTL_VAR_*", () => {
    const names = namesFor(environmentReferences(CONFIG), catalog);
    for (const name of ["WFCTL_STATE_URL", "PROD_STATE_URL", "STATE_PW", "ADMIN_URL", "PROD_KEY", "APP_PASSWORD", "PG*", INPUT_VARIABLES, ...aws]) {
      expect(names, name).toContain(name);
    }
    expect(names).toEqual([...new Set(names)].sort());
  });

  it("never include a base variable, NODE_OPTIONS, an output sink's token, or a plugin the file does not name", () => {
    const names = namesFor(environmentReferences(CONFIG), catalog);
    for (const name of ["HOME", "PATH", "NODE_OPTIONS", "GH_SINK_TOKEN", "GOOGLE_*", "AZURE_*"]) expect(names, name).not.toContain(name);
  });

  it("are found in any shape a file may have, and WFCTL_VAR_* alone when it names nothing", () => {
    expect(pluginsNamed({ modules: [null, 3, { type: "iac.provider" }, { type: "iac.provider", config: { provider: 7 } }, { type: "iac.state", environments: { a: null } }] })).toEqual([]);
    expect(namesFor(environmentReferences("not a document"), catalog)).toEqual([INPUT_VARIABLES]);
    expect(namesFor(environmentReferences({ modules: "no" }), catalog)).toEqual([INPUT_VARIABLES]);
  });

  it("include a project plugin's locked reads_env", () => {
    const project = catalog.extend([{ name: "vault", kind: "provider", executable: "/bin/true", args: [], env: {}, readsEnv: ["VAULT_*"], source: "/p/wfctl.yaml" }]);
    const names = namesFor(environmentReferences({ modules: [{ name: "v", type: "iac.provider", config: { provider: "vault" } }] }), project);
    expect(names).toEqual(["VAULT_*", INPUT_VARIABLES]);
  });
});

describe("EnvironmentNames on a file", () => {
  const dir = tempDir("wft-envnames-");
  afterAll(() => dir.cleanup());

  it("answers for a file that does not exist or does not parse (the operation says why), and follows the file as it changes", async () => {
    expect(await environmentNames(catalog, join(dir.path, "missing.yaml"))).toEqual([INPUT_VARIABLES]);
    const file = join(dir.path, "infra.yaml");
    writeFileSync(file, "modules: [ {");
    expect(await environmentNames(catalog, file)).toEqual([INPUT_VARIABLES]);
    writeFileSync(file, "modules:\n  - name: pg\n    type: iac.provider\n    config: { provider: postgres, url_env: FIRST_URL }\n");
    expect(await environmentNames(catalog, file)).toEqual(["FIRST_URL", "PG*", INPUT_VARIABLES]);
    writeFileSync(file, "modules:\n  - name: pg\n    type: iac.provider\n    config: { provider: postgres, url_env: SECOND_URL_LONGER }\n");
    expect(await environmentNames(catalog, file)).toEqual(["PG*", "SECOND_URL_LONGER", INPUT_VARIABLES]);
  });

  it("gives the built-in plugins' variables when the project's wfctl.yaml does not load", async () => {
    const project = join(dir.path, "project");
    mkdirSync(project);
    writeFileSync(join(project, "wfctl.yaml"), "plugins: [ {");
    const file = join(project, "infra.yaml");
    writeFileSync(file, "modules:\n  - name: b\n    type: iac.provider\n    config: { provider: s3 }\n");
    expect(await environmentNames(catalog, file)).toEqual([...aws, INPUT_VARIABLES].sort());
  });
});

describe("the variables a client sends", () => {
  it("are its variables the names cover, exactly or by prefix, never NODE_OPTIONS", () => {
    const env = { AWS_REGION: "r", AWSOME: "no", APP_PASSWORD: "pw", APP_PASSWORD_OLD: "no", NODE_OPTIONS: "--x", WFCTL_VAR_tag: "v1", PATH: "/bin", UNSET: undefined };
    expect(stepEnvironment(["APP_PASSWORD", "AWS_*", "NODE_*", INPUT_VARIABLES], env)).toEqual({ AWS_REGION: "r", APP_PASSWORD: "pw", WFCTL_VAR_tag: "v1" });
    expect(stepEnvironment([], env)).toEqual({});
  });
});
