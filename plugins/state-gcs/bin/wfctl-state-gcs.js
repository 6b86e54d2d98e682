#!/usr/bin/env node
// Executable of the "gcs" state backend plugin (built code lives in dist/).
import "../../../dist/plugins/state-gcs/main.js";
