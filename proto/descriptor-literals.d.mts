// Types of proto/descriptor-literals.mjs (a build script's module, plain JavaScript so that plugins/bundle.mjs runs without tsc).
export declare const FILE_DESC_CALL: RegExp;
export declare function descriptorLiteral(b64: string): string;
export declare function descriptorLiterals(helper: string): {
  name: string;
  transform(code: string, id: string): { code: string; map: null } | null;
};
