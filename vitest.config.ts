import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The plugin author's project is copied out of the repository and tested with its own vitest (e2e/sdk-package).
    exclude: ["test/fixtures/**", "**/node_modules/**"],
    globalSetup: ["test/global-setup.ts"],
    // Tests spawn real daemons and plugin processes; give them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Test files spend most of their time waiting on the processes they
    // start (daemons, plugins, servers), so four run at once even on two
    // cores; vitest's default here is a single worker.
    maxWorkers: 4,
    reporters: process.env["CI"] ? ["default"] : ["default"],
  },
});
