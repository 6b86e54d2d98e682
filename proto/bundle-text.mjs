// Build time: how every bundle script writes its code (client/bundle.mjs,
// daemon/bundle.mjs, plugins/bundle.mjs). ASCII only, non-ASCII escaped
// where that changes nothing: one non-ASCII character (an em dash in a
// message) sends a whole source through UTF-8 decoding's slow path and
// keeps it as UTF-16 (the client's main chunk decoded in 6 ms instead of
// 1.8, the daemon's entry in 8.5 instead of 2.8, at every start). Licence
// comments stay; JSDoc goes (less to read, and no code quoted in a comment
// reads as an import). test/unit/bundles.test.ts checks the ASCII.
export const BUNDLE_TEXT = { charset: "ascii", comments: { legal: true, annotation: false, jsdoc: false } };
