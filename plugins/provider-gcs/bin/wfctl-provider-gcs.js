#!/usr/bin/env node
// Executable of the "gcs" provider plugin (built code lives in dist/).
import "../../../dist/plugins/provider-gcs/main.js";
