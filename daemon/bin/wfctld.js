#!/usr/bin/env node
// wfctld executable (built code lives in dist/).
import "../../dist/daemon/main.js";
