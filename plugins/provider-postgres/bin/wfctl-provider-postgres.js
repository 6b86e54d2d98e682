#!/usr/bin/env node
// Executable of the "postgres" provider plugin (built code lives in dist/).
import "../../../dist/plugins/provider-postgres/main.js";
