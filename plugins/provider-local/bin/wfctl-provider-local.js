#!/usr/bin/env node
// Executable of the "local" provider plugin (built code lives in dist/).
import "../../../dist/plugins/provider-local/main.js";
