// Mutated configurations for the flood test: a valid infra.yaml and every
// kind of hostile variation of it the issue names (truncations, alias bombs,
// deep nesting, wrong types, NUL bytes, huge strings, duplicate keys) and a
// few more (garbage, invalid UTF-8, JSON lines, reference cycles, thousands
// of modules). Seeded (the fuzz test's Random), so a failure can be replayed.
import type { Random } from "../faults/fuzz-corpus.js";

/** A valid configuration: state in memory, the local provider, files depending on each other, an output. */
export const BASE = `modules:
  - name: state
    type: iac.state
    config: { backend: memory }
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: site
    type: local.directory
    provider: local
    config: { path: site }
  - name: index
    type: local.file
    provider: local
    depends_on: [site]
    config: { path: site/index.html, content: "hello \${site.path}", mode: "0644" }
  - name: notes
    type: local.file
    provider: local
    protected: true
    config: { path: notes.txt, content: "notes" }
    environments: { staging: { config: { content: "staging notes" } } }
outputs:
  home: { source: index.path }
`;

const HEAD = BASE.slice(0, BASE.indexOf("  - name: site\n"));

/** A local.file module (YAML text). */
const file = (name: string, config: string, extra = "") => `  - name: ${name}\n    type: local.file\n    provider: local\n${extra}    config: ${config}\n`;

/** Values of the wrong type, or out of every range, for a field of BASE. */
const WRONG: readonly [string, string][] = [
  ["modules:\n", "modules: 5\n"],
  ["modules:\n", 'modules: { a: 1 }\nx: "'],
  ["name: site", "name: [site]"],
  ["name: site", 'name: "../../etc"'],
  ["type: local.directory", "type: 7"],
  ["type: local.directory", "type: iac.state"],
  ["config: { path: site }", 'config: "text"'],
  ["config: { path: site }", "config: [1, 2]"],
  ["config: { path: site }", "config: { path: 1e308 }"],
  ["config: { path: site }", "config: { path: .inf }"],
  ["config: { path: site }", "config: { path: 99999999999999999999999999999 }"],
  ["config: { path: site }", "config: { path: ~ }"],
  ["config: { path: site }", "config: { path: ../../../../etc/passwd }"],
  ["depends_on: [site]", "depends_on: { site: 1 }"],
  ["depends_on: [site]", "depends_on: [nowhere]"],
  ["depends_on: [site]", "depends_on: [index]"],
  ["protected: true", 'protected: "yes"'],
  ["environments: { staging:", "environments: 3\n    x: { staging:"],
  ["environments: { staging:", 'environments: { "../x":'],
  ['mode: "0644"', "mode: 644"],
  ['mode: "0644"', 'mode: "9999"'],
  ["home: { source: index.path }", "home: { source: 5 }"],
  ["home: { source: index.path }", "home: { source: nowhere.path, sinks: [{ type: github_secret, name: 1 }] }"],
  ["outputs:\n", "outputs: [1, 2]\nx:\n"],
  ["backend: memory", "backend: no-such-backend"],
  ["backend: memory", "backend: filesystem, directory: /proc/self"],
  ["provider: local, root: out", "provider: local, root: 5"],
  ["provider: local, root: out", "provider: nope"],
  ['content: "hello ${site.path}"', 'content: "${index.content}"'],
  ['content: "hello ${site.path}"', 'content: "${nowhere.field}"'],
  ['content: "hello ${site.path}"', 'content: "${site.${site.path}}"'],
];

/** The kinds of mutation, each a function of the random source. */
const KINDS: Record<string, (r: Random) => string | Buffer> = {
  truncated: (r) => BASE.slice(0, r.int(BASE.length)),
  "flipped bytes": (r) => {
    const bytes = Buffer.from(BASE);
    for (let i = 0; i < 1 + r.int(8); i++) bytes[r.int(bytes.length)] = r.int(256);
    return bytes;
  },
  "wrong type": (r) => {
    const [from, to] = r.pick(WRONG);
    return BASE.replace(from, to);
  },
  // 100 uses of 100 to 400 KB: 10 to 40 MB once expanded (a few just under 10 MiB, which plan).
  "alias bomb": (r) => HEAD + file("a0", `{ path: a0, content: &big "${"A".repeat(100_000 + r.int(300_000))}" }`) + Array.from({ length: 99 }, (_, i) => file(`a${i + 1}`, `{ path: a${i + 1}, content: *big }`)).join(""),
  "billion laughs": (r) => {
    const width = 5 + r.int(10);
    const levels = [`x0: &x0 [${Array(width).fill('"lol"').join(", ")}]`];
    for (let i = 1; i < 6 + r.int(6); i++) levels.push(`x${i}: &x${i} [${Array(width).fill(`*x${i - 1}`).join(", ")}]`);
    return `${BASE}${levels.join("\n")}\n`;
  },
  "alias to nothing": () => BASE.replace("config: { path: site }", "config: *nothing"),
  "alias containing itself": () => BASE.replace("config: { path: site }", "config: &self { path: site, again: *self }"),
  "deep flow nesting": (r) => {
    const depth = 50 + r.int(r.int(8) === 0 ? 2000 : 500);
    return BASE.replace("config: { path: site }", `config: { path: site, deep: ${"[".repeat(depth)}${"]".repeat(depth)} }`);
  },
  "deep block nesting": (r) => {
    const depth = 20 + r.int(150);
    const lines = Array.from({ length: depth }, (_, i) => `${" ".repeat(6 + 2 * i)}k${i}:`).join("\n");
    return BASE.replace("config: { path: site }", `config:\n      path: site\n      deep:\n${lines} leaf`);
  },
  "NUL byte": (r) => {
    const where = r.int(3);
    if (where === 0) return BASE.replace("path: notes.txt", 'path: "notes\\0.txt"');
    if (where === 1) return BASE.replace("root: out", 'root: "o\\0ut"');
    const bytes = Buffer.from(BASE);
    bytes[r.int(bytes.length)] = 0;
    return bytes;
  },
  // 50 KB to 1.1 MB: as a file's content (it plans), or as a field no module has (refused after parsing).
  "huge string": (r) => BASE.replace('content: "notes"', `${r.pick(["content", "unknown"])}: "${"n".repeat(50_000 + r.int(r.int(8) === 0 ? 1_050_000 : 300_000))}"`),
  "huge key": (r) => BASE.replace("path: notes.txt", `path: notes.txt, ${"k".repeat(10_000 + r.int(100_000))}: 1`),
  "duplicate keys": (r) => `${BASE.replace("config: { path: site }", `config:\n      path: site\n${Array.from({ length: 2 + r.int(r.int(8) === 0 ? 2000 : 300) }, (_, i) => `      dup: ${i}`).join("\n")}`)}`,
  garbage: (r) => r.bytes(1 + r.int(16 * 1024)),
  "invalid UTF-8": (r) => Buffer.concat([Buffer.from(BASE.slice(0, 200)), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]), r.bytes(r.int(64)), Buffer.from(BASE.slice(200))]),
  "JSON lines": (r) => Array.from({ length: 50 + r.int(500) }, (_, i) => JSON.stringify({ level: "info", msg: `line ${i}`, i })).join("\n"),
  "reference cycle": () => BASE.replace('content: "notes"', 'content: "${index.content}"').replace('content: "hello ${site.path}"', 'content: "${notes.content}"'),
  "thousands of modules": (r) => HEAD + Array.from({ length: 1000 + r.int(r.int(8) === 0 ? 4000 : 500) }, (_, i) => `  - name: m${i}\n    type: local.file\n`).join(""),
  "several documents": () => `${BASE}---\n${BASE}`,
  "tags and tabs": (r) => r.pick([BASE.replace("config: { path: site }", "config: !!binary aGVsbG8="), BASE.replace("    type: local.directory", "\ttype: local.directory"), BASE.replace("config: { path: site }", "config: !!set { a, b }"), `%YAML 9.9\n---\n${BASE}`]),
  empty: (r) => r.pick(["", "\n", "# only a comment\n", "---\n", "~\n", "modules:\n", "[]\n", '""\n']),
};

export const CONFIG_KINDS = Object.keys(KINDS);

/** The `index`-th mutated configuration: every kind in turn. */
export function mutatedConfig(index: number, random: Random): { kind: string; text: string | Buffer } {
  const kind = CONFIG_KINDS[index % CONFIG_KINDS.length] as string;
  return { kind, text: (KINDS[kind] as (r: Random) => string | Buffer)(random) };
}
