// Configurations several end-to-end tests apply with the local provider.

/**
 * The site stack: a directory and two files in it that depend on it (three
 * changes from nothing), then `extra` (more modules, as YAML list items).
 */
export function siteStack(options: { index?: string; robots?: string; extra?: string } = {}): string {
  const { index = "hello", robots = "User-agent: *", extra = "" } = options;
  return `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: site
    type: local.directory
    provider: local
    config: { path: site, force_destroy: true }
  - name: index
    type: local.file
    provider: local
    depends_on: [site]
    config: { path: site/index.html, content: "${index}" }
  - name: robots
    type: local.file
    provider: local
    depends_on: [site]
    config: { path: site/robots.txt, content: "${robots}" }
${extra}`;
}
