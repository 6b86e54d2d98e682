// Reading by provider id alone (`wfctl infra import`): what the postgres
// provider takes from each kind of id, and where the local provider finds a
// path given relative to its root.
import { describe, expect, it } from "vitest";
import { configuredPath, recordedPath } from "../../plugins/provider-local/paths.js";
import { readIdentity } from "../../plugins/provider-postgres/ids.js";

const byId = (providerId: string) => ({ providerId, config: {}, outputs: {} });

describe("postgres ids", () => {
  it("names what each kind of id holds, with or without its prefix", () => {
    expect(readIdentity("role", byId("role:app"), "x")).toEqual({ config: { name: "app" }, imported: true });
    expect(readIdentity("role", byId("app"), "x").config).toEqual({ name: "app" });
    expect(readIdentity("database", byId("database:appdb"), "x").config).toEqual({ name: "appdb" });
    expect(readIdentity("schema", byId("schema:appdb/reporting"), "x").config).toEqual({ database: "appdb", name: "reporting" });
    expect(readIdentity("grant", byId("grant:database:appdb:ro"), "x").config).toMatchObject({ object_type: "database", database: "appdb", role: "ro" });
    expect(readIdentity("grant", byId("grant:schema:appdb/reporting:ro"), "x").config).toMatchObject({ object_type: "schema", database: "appdb", schema: "reporting", role: "ro" });
  });

  it("a record's own configuration wins; a malformed id is refused naming the form", () => {
    const recorded = { providerId: "role:app", config: { name: "app", login: true }, outputs: {} };
    expect(readIdentity("role", recorded, "x")).toEqual({ config: recorded.config, imported: false });
    expect(() => readIdentity("schema", byId("schema:nodatabase"), "r (postgres.schema)")).toThrow(
      'r (postgres.schema): provider id "schema:nodatabase" is not a postgres.schema id (schema:DATABASE/NAME)',
    );
    expect(() => readIdentity("grant", byId("grant:schema:appdb:ro"), "g")).toThrow(/is not a postgres\.grant id/);
  });
});

describe("local paths by id", () => {
  it("an id relative to the root is under it; its configured path is written relative, as configurations write it", () => {
    expect(recordedPath(byId("site/index.html"), "/srv/out", "x")).toBe("/srv/out/site/index.html");
    expect(recordedPath(byId("/srv/out/a.txt"), "/srv/out", "x")).toBe("/srv/out/a.txt");
    expect(() => recordedPath(byId("../escape.txt"), "/srv/out", "x (local.file)")).toThrow(/points outside the provider root/);
    expect(configuredPath(byId("/srv/out/site/index.html"), "/srv/out/site/index.html", "/srv/out")).toBe("site/index.html");
    expect(configuredPath({ providerId: "", config: { path: "a.txt" }, outputs: {} }, "/srv/out/a.txt", "/srv/out")).toBe("a.txt");
  });
});
