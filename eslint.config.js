// Lint rules the type checker cannot enforce: every promise is awaited,
// returned, or explicitly handled (a floating promise's rejection would be
// unhandled, and in the daemon an unhandled rejection is a crash).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "plugins/sdk/dist/**", "test/fixtures/plugin-author/**", "node_modules/**", "**/node_modules/**", "proto/gen/**", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  {
    files: ["**/*.ts"],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@typescript-eslint": tseslint.plugin },
    rules: {
      "@typescript-eslint/no-floating-promises": ["error", { ignoreVoid: false }],
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false, attributes: false } }],
    },
  },
);
