#!/usr/bin/env node
// wfctl executable: the client bundled by `npm run build` (client/bundle.mjs)
// from the built code in dist/. CommonJS, as the bundle is (package.json here).
require("../../dist/bundle/wfctl.cjs");
