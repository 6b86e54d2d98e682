#!/usr/bin/env node
// Executable of the "local" provider plugin: its built code bundled by
// daemon/bundle.mjs (the SDK and gRPC included, a few files to load).
// CommonJS, as the bundle is (package.json here).
require("../../../dist/daemon-bundle/provider-local/main.cjs");
