// The postgres provider: databases, roles, schemas and grants of one
// PostgreSQL server, through pg. One plugin process serves one configured
// provider, with a pool per database it touches.
import { defineProvider } from "../sdk/index.js";
import { PostgresServer } from "./connection.js";
import { databaseResource } from "./database.js";
import { grantResource } from "./grant.js";
import { roleResource } from "./role.js";
import { schemaResource } from "./schema.js";
import { PROVIDER_CONFIG, connectionSettings } from "./settings.js";

export const postgresProvider = defineProvider<PostgresServer>({
  config: PROVIDER_CONFIG,
  async configure(config, { signal }) {
    const server = new PostgresServer(connectionSettings(config));
    // Settings that cannot reach the server fail here, once, rather than in every resource call.
    try {
      await server.session("postgres provider", { signal, deadline: undefined }, (session) => session.query("checking the connection", "SELECT 1"));
    } catch (err) {
      await server.end();
      throw err;
    }
    return server;
  },
  // At shutdown (and when a Configure replaces it): each idle connection's
  // Terminate message goes out before the process exits, so the server sees
  // clean disconnections.
  async close(server, { log }) {
    const pools = await server.end();
    log.info({ pools }, "connection pools ended");
  },
  resources: {
    "postgres.database": databaseResource,
    "postgres.role": roleResource,
    "postgres.schema": schemaResource,
    "postgres.grant": grantResource,
  },
  classifiesDrift: true,
});
