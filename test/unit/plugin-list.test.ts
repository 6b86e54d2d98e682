// What `plugins list` says of the plugins wfctl knows by name but does not
// carry: a cloud plugin ships as an npm package of its own, so where its
// bundle is not beside wfctl (an installed wfctl) it is `not_installed`, and
// each row names the package to install.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pluginMessage } from "../../daemon/server/convert.js";
import { builtinPlugins, notInstalled } from "../../daemon/supervisor/catalog.js";

const rows = (root?: string) => builtinPlugins(root).map((spec) => pluginMessage({ spec, slot: undefined }));

describe("plugins list rows of the built-in catalog", () => {
  it("in a wfctl without the cloud plugins' bundles: every cloud plugin is not_installed, naming its package", () => {
    const empty = mkdtempSync(join(tmpdir(), "wft-no-plugins-"));
    const list = rows(empty);
    const cloud = list.filter((p) => p.name !== "local");
    expect(cloud).toHaveLength(7);
    for (const p of cloud) expect(p, `${p.kind} ${p.name}`).toMatchObject({ state: "not_installed", source: "builtin", package: expect.stringMatching(/^@wfctl\/(provider|state)-/) });
    expect(list.find((p) => p.kind === "state_backend" && p.name === "s3")?.package).toBe("@wfctl/state-s3");
    // The local provider ships inside wfctl: never "not installed", no package.
    expect(list.find((p) => p.name === "local")).toMatchObject({ state: "not_started", package: "" });
  });

  it("in this checkout, where the bundles are built beside wfctl: not_started, still naming the package", () => {
    for (const spec of builtinPlugins()) expect(notInstalled(spec), spec.name).toBe(false);
    expect(rows().find((p) => p.kind === "provider" && p.name === "s3")).toMatchObject({ state: "not_started", package: "@wfctl/provider-s3" });
  });

  it("a project plugin in place of a built-in one names no package: its source is its wfctl.yaml", () => {
    const [s3] = builtinPlugins().filter((s) => s.kind === "provider" && s.name === "s3");
    const project = { ...s3!, source: "/srv/site/wfctl.yaml" };
    expect(pluginMessage({ spec: project, slot: undefined })).toMatchObject({ state: "not_started", package: "", source: "/srv/site/wfctl.yaml" });
  });
});
