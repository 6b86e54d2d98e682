#!/usr/bin/env node
// wfctl executable (built code lives in dist/).
import "../../dist/client/main.js";
