// Downloaded record bodies kept for listings, and reading a download whole.

/** Record bodies kept to answer listings (by blob name and ETag), in characters. */
const LIST_CACHE_CHARS = 64 * 1024 * 1024;

/** The whole body of a download. */
export async function readBody(body: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (!body) throw new Error("the download has no body");
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/**
 * Record bodies by blob name, each valid only for the ETag it was read at.
 * The host pages ListStates and each page is a full listing here, so without
 * it a listing of N records would download N x pages blobs; unchanged blobs
 * (same ETag in the listing) are answered from here instead. Least recently
 * used bodies go first once over LIST_CACHE_CHARS.
 */
export class BodyCache {
  // Listings give ETags bare, downloads and uploads quoted.
  private static tag(etag: string | undefined): string | undefined {
    return etag?.replace(/^"|"$/g, "");
  }

  private readonly entries = new Map<string, { etag: string; text: string }>();
  private bytes = 0;

  get(name: string, etag: string | undefined): string | undefined {
    const entry = this.entries.get(name);
    if (!entry || etag === undefined || entry.etag !== BodyCache.tag(etag)) return undefined;
    this.entries.delete(name);
    this.entries.set(name, entry);
    return entry.text;
  }

  set(name: string, etag: string | undefined, text: string): void {
    this.delete(name);
    const tag = BodyCache.tag(etag);
    if (tag === undefined || text.length > LIST_CACHE_CHARS / 4) return;
    this.entries.set(name, { etag: tag, text });
    this.bytes += text.length;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= LIST_CACHE_CHARS) break;
      this.entries.delete(oldest);
      this.bytes -= entry.text.length;
    }
  }

  delete(name: string): void {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.entries.delete(name);
    this.bytes -= entry.text.length;
  }
}
