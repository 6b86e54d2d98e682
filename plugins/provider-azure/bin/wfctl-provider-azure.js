#!/usr/bin/env node
// Executable of the "azure" provider plugin (built code lives in dist/).
import "../../../dist/plugins/provider-azure/main.js";
