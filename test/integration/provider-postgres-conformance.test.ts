// The provider conformance kit against the postgres provider plugin's
// database, role and schema types, the plugin a real process over gRPC against
// a real PostgreSQL server. The plugin's own behaviour is tested in
// provider-postgres-roles.test.ts and provider-postgres-objects.test.ts.
// Every name carries this file's run id; everything is dropped after
// (test/helpers/postgres-provider.ts).
import { tmpdir } from "node:os";
import { describe } from "vitest";
import type { CreatedResource } from "../../plugins/conformance/provider.js";
import { describeProviderConformance } from "../../plugins/conformance/vitest.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { JsonObject } from "../../proto/json.js";
import { ident, usePostgresProvider } from "../helpers/postgres-provider.js";

const { RUN, unique, start, sql } = usePostgresProvider();


// The kit's out-of-band delete must leave a resource Read cannot find; for a
// grant that means dropping its role or database, which every check of the
// type would share (the kit's names are random, so a grant's role cannot be
// made per check). Grants are covered by provider-postgres-objects.test.ts instead.
describe("postgres provider", () => {
  const kitDatabase = unique("kitdb");
  const kitOwner = unique("kitowner");
  const nameOf = (config: JsonObject) => String(config["name"]);
  describeProviderConformance("postgres", {
    resources: {
      "postgres.database": {
        name: "conf-db",
        create: (name) => ({ name: `${name}_${RUN}` }),
        update: (name) => ({ name: `${name}_${RUN}`, connection_limit: 5 }),
        replace: (name) => ({ name: `${name}_${RUN}`, connection_limit: 5, encoding: "LATIN1" }),
        outOfBandDelete: async ({ config }: CreatedResource) => void (await sql(`DROP DATABASE ${ident(nameOf(config))} WITH (FORCE)`)),
        outOfBandChange: async ({ config }: CreatedResource) => {
          await sql(`ALTER DATABASE ${ident(nameOf(config))} CONNECTION LIMIT 9`);
          return { field: "connection_limit", actual: 9 };
        },
      },
      "postgres.role": {
        name: "conf-role",
        create: (name) => ({ name: `${name}_${RUN}` }),
        update: (name) => ({ name: `${name}_${RUN}`, login: true, connection_limit: 3 }),
        replace: (name) => ({ name: `${name}-renamed_${RUN}`, login: true, connection_limit: 3 }),
        outOfBandDelete: async ({ config }: CreatedResource) => void (await sql(`DROP ROLE ${ident(nameOf(config))}`)),
        outOfBandChange: async ({ config }: CreatedResource) => {
          await sql(`ALTER ROLE ${ident(nameOf(config))} CONNECTION LIMIT 7`);
          return { field: "connection_limit", actual: 7 };
        },
      },
      "postgres.schema": {
        name: "conf-schema",
        create: (name) => ({ name, database: kitDatabase }),
        update: (name) => ({ name, database: kitDatabase, owner: kitOwner }),
        replace: (name) => ({ name: `${name}-renamed`, database: kitDatabase, owner: kitOwner }),
        outOfBandDelete: async ({ config }: CreatedResource) => void (await sql(`DROP SCHEMA ${ident(nameOf(config))}`, [], kitDatabase)),
        // No outOfBandChange: the create configuration leaves the owner, its one field changed in place, unmanaged.
      },
    },
    async connect() {
      await sql(`CREATE ROLE ${ident(kitOwner)} NOLOGIN`);
      await sql(`CREATE DATABASE ${ident(kitDatabase)}`);
      const instance = await start({}, undefined);
      return {
        provider: instance.client(IaCProvider),
        driftDetector: instance.client(IaCDriftDetector),
        controller: instance.client(PluginController),
        config: { url_env: "WFT_PG_URL" },
        workingDir: tmpdir(),
      };
    },
  });
});
