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
    // Test files share their worker's modules (no module graph loaded again per file):
    // nothing here relies on a fresh one, and a run spent 90 s importing.
    isolate: false,
    reporters: process.env["CI"] ? ["default"] : ["default"],
  },
});
