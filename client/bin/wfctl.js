#!/usr/bin/env node
// wfctl executable: the client bundled by `npm run build` (client/bundle.mjs)
// from the built code in dist/.
import "../../dist/bundle/wfctl.mjs";
