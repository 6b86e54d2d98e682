// Entry point of the wfctl-provider-postgres plugin executable.
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { endPools, postgresProvider } from "./provider.js";

await serve({
  name: "postgres",
  version: WFCTL_VERSION,
  description: "Databases, roles, schemas and grants of a PostgreSQL server",
  // What pg (libpq's variables) reads when a setting is not configured: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE...
  readsEnv: ["PG*"],
  provider: postgresProvider,
});

// serve() exits the process once it has stopped serving (SIGTERM, the host's
// Shutdown call, the host gone), after in-flight calls are done. Ending the
// pools then sends each idle connection's Terminate message before the
// process is gone, so the server sees clean disconnections.
process.once("exit", () => {
  endPools().catch(() => {
    // The process is ending; a connection that cannot say goodbye is closed by the server.
  });
});
