// Entry point of the wfctl-provider-postgres plugin executable.
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { postgresProvider } from "./provider.js";

await serve({
  name: "postgres",
  version: WFCTL_VERSION,
  description: "Databases, roles, schemas and grants of a PostgreSQL server",
  // What pg (libpq's variables) reads when a setting is not configured: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE...
  readsEnv: ["PG*"],
  provider: postgresProvider,
});
