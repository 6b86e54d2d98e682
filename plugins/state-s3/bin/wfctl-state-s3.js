#!/usr/bin/env node
// Executable of the "s3" state backend plugin (built code lives in dist/).
import "../../../dist/plugins/state-s3/main.js";
