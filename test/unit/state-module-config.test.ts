// The state backend is never a guess: an iac.state module whose backend is
// set only under some environments is refused (CONFIG_INVALID at the module,
// naming them) wherever the environment in use sets none.
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../proto/errors.js";
import { parseInfraConfig } from "../../daemon/config/load.js";
import { thrownBy } from "../helpers/errors.js";

const FILE = "/srv/site/infra.yaml";

const config = (state: string) =>
  `modules:\n${state}  - name: local\n    type: iac.provider\n    config: { provider: local }\n    environments: { prod: {}, dev: {} }\n`;

const STAGING_ONLY = "  - name: state\n    type: iac.state\n    environments:\n      staging:\n        config: { backend: postgres, url: postgres://db/wfctl }\n";

describe("a state module whose backend only environments set", () => {
  it("is refused without --env, at the module, naming the environment and what to do", () => {
    const err = thrownBy(() => parseInfraConfig(FILE, config(STAGING_ONLY), ""));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details).toEqual([expect.objectContaining({ file: FILE, line: 2, column: 5, module: "state", field: "config.backend" })]);
    expect(err.message).toContain(
      `${FILE}:2:5: module "state": field "config.backend": the state backend is set only for environment "staging"; without --env this module has no backend, and wfctl does not guess one`,
    );
    expect(err.message).toContain("Run with --env staging, or give the module a backend of its own under config (e.g. backend: filesystem");
  });

  it("is used as configured in an environment that sets it", () => {
    expect(parseInfraConfig(FILE, config(STAGING_ONLY), "staging").state).toMatchObject({ backend: "postgres", config: { url: "postgres://db/wfctl" } });
  });

  it("is refused in an environment that sets none, or disables the module, naming every environment that sets one", () => {
    const two = STAGING_ONLY + "      prod:\n        config: { backend: s3, bucket: b }\n      dev: null\n";
    expect(thrownBy(() => parseInfraConfig(FILE, config(STAGING_ONLY), "prod")).message).toContain(
      `set only for environment "staging"; in environment "prod", which sets none, this module has no backend`,
    );
    const disabled = thrownBy(() => parseInfraConfig(FILE, config(two), "dev"));
    expect(disabled.message).toContain(`set only for environments "prod", "staging"; in environment "dev", which disables this module, this module has no backend`);
    expect(disabled.message).toContain("Run with --env prod or --env staging");
  });

  it("is accepted with a backend of its own, whatever the environments set", () => {
    const own = "  - name: state\n    type: iac.state\n    config: { backend: filesystem }\n    environments:\n      staging:\n        config: { backend: postgres, url: postgres://db/wfctl }\n";
    expect(parseInfraConfig(FILE, config(own), "").state.backend).toBe("filesystem");
    expect(parseInfraConfig(FILE, config(own), "prod").state.backend).toBe("filesystem");
    expect(parseInfraConfig(FILE, config(own), "staging").state.backend).toBe("postgres");
  });
});
