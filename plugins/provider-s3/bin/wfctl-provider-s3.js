#!/usr/bin/env node
// Executable of the "s3" provider plugin (built code lives in dist/).
import "../../../dist/plugins/provider-s3/main.js";
