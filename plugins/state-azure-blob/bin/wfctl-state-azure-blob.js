#!/usr/bin/env node
// Executable of the "azure_blob" state backend plugin (built code lives in dist/).
import "../../../dist/plugins/state-azure-blob/main.js";
