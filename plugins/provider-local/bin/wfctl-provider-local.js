#!/usr/bin/env node
// Executable of the "local" provider plugin: its built code bundled by
// daemon/bundle.mjs (the SDK and gRPC included, one file to load).
import "../../../dist/daemon-bundle/provider-local/main.js";
