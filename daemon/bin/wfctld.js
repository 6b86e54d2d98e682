#!/usr/bin/env node
// wfctld executable: the daemon bundled by `npm run build` (daemon/bundle.mjs)
// from the built code in dist/. CommonJS, as the bundle is (package.json here).
require("../../dist/daemon-bundle/wfctld.cjs");
