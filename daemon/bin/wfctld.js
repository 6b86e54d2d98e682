#!/usr/bin/env node
// wfctld executable: the daemon bundled by `npm run build` (daemon/bundle.mjs)
// from the built code in dist/.
import "../../dist/daemon-bundle/wfctld.js";
