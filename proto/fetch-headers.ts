// The fetch API's Headers class, as the Fetch standard defines it
// (https://fetch.spec.whatwg.org/#headers-class), for Connect to use without
// loading Node's fetch. Node defines the global Headers lazily: its first
// use loads undici, Node's whole fetch implementation, which took 40 ms of
// CPU on every `wfctl` command here (a quarter of what the client costs
// beyond `node -e 0`), only for Connect to keep a few request and response
// headers in it. installFetchHeaders() puts this class in its place when
// nothing has used the global yet; fetch itself (the GitHub sink) still
// loads undici when called, and takes these like any headers init.
// test/unit/fetch-headers.test.ts runs the same operations on both classes.

/** A header name: a token (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** HTTP whitespace, stripped from both ends of a value. */
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
/** What a value may not hold once stripped. */
const FORBIDDEN_IN_VALUE = /[\0\n\r]/;

/** A WebIDL ByteString: String(value), refused when a code unit is above 0xFF. */
function byteString(value: unknown, what: string): string {
  const text = String(value);
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0xff) throw new TypeError(`Headers: ${what} ${JSON.stringify(text)} is not a ByteString`);
  }
  return text;
}

/** The lower-cased form of a valid header name; TypeError for anything else. */
function headerName(name: unknown): string {
  const text = byteString(name, "header name");
  if (!TOKEN.test(text)) throw new TypeError(`Headers: invalid header name ${JSON.stringify(text)}`);
  return text.toLowerCase();
}

/** A header value, normalized (edge whitespace stripped); TypeError when it holds NUL, CR or LF. */
function headerValue(value: unknown, name: string): string {
  const text = byteString(value, "header value").replace(EDGE_WHITESPACE, "");
  if (FORBIDDEN_IN_VALUE.test(text)) throw new TypeError(`Headers: invalid value for header ${JSON.stringify(name)}`);
  return text;
}

type Init = ConstructorParameters<typeof globalThis.Headers>[0];

export class FetchHeaders implements globalThis.Headers {
  /** Values by lower-cased name, in the order appended. */
  readonly #list = new Map<string, string[]>();

  constructor(init?: Init) {
    if (init === undefined) return;
    if (typeof init !== "object" || init === null) throw new TypeError("Headers: init must be an object, an iterable of [name, value] pairs or a Headers");
    const iterate = (init as { [Symbol.iterator]?: unknown })[Symbol.iterator];
    if (iterate !== undefined) {
      if (typeof iterate !== "function") throw new TypeError("Headers: init's Symbol.iterator is not a function");
      for (const pair of init as Iterable<unknown>) {
        if (typeof pair !== "object" || pair === null) throw new TypeError("Headers: each header of an iterable init must be a [name, value] pair");
        const items = [...(pair as Iterable<unknown>)];
        if (items.length !== 2) throw new TypeError(`Headers: a header pair must have 2 items, not ${items.length}`);
        this.append(items[0] as string, items[1] as string);
      }
      return;
    }
    // Every own property, as Node's does (the standard reads the enumerable ones only).
    for (const key of Reflect.ownKeys(init)) {
      if (typeof key === "symbol") throw new TypeError("Headers: a header name cannot be a Symbol");
      this.append(key, (init as Record<string, string>)[key] as string);
    }
  }

  append(name: string, value: string): void {
    const key = headerName(name);
    const text = headerValue(value, key);
    const values = this.#list.get(key);
    if (values) values.push(text);
    else this.#list.set(key, [text]);
  }

  set(name: string, value: string): void {
    const key = headerName(name);
    this.#list.set(key, [headerValue(value, key)]);
  }

  delete(name: string): void {
    this.#list.delete(headerName(name));
  }

  get(name: string): string | null {
    return this.#list.get(headerName(name))?.join(", ") ?? null;
  }

  getSetCookie(): string[] {
    return [...(this.#list.get("set-cookie") ?? [])];
  }

  has(name: string): boolean {
    return this.#list.has(headerName(name));
  }

  forEach(callback: (value: string, key: string, parent: globalThis.Headers) => void, thisArg?: unknown): void {
    if (typeof callback !== "function") throw new TypeError("Headers.forEach: the callback is not a function");
    for (const [key, value] of this.#sorted()) callback.call(thisArg, value, key, this);
  }

  *entries(): IterableIterator<[string, string]> {
    yield* this.#sorted();
  }

  *keys(): IterableIterator<string> {
    for (const [key] of this.#sorted()) yield key;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.#sorted()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Headers";
  }

  /** The standard's "sort and combine": names in byte order, each with its values joined, but one pair per Set-Cookie. */
  #sorted(): [string, string][] {
    const names = [...this.#list.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const pairs: [string, string][] = [];
    for (const key of names) {
      const values = this.#list.get(key) as string[];
      if (key === "set-cookie") for (const value of values) pairs.push([key, value]);
      else pairs.push([key, values.join(", ")]);
    }
    return pairs;
  }
}

/**
 * Makes FetchHeaders the global Headers, unless something has used Node's own
 * already (its lazy getter is gone then; what holds those keeps them). Call
 * before the first Connect call. Returns whether it did.
 */
export function installFetchHeaders(): boolean {
  const current = Object.getOwnPropertyDescriptor(globalThis, "Headers");
  if (current !== undefined && current.get === undefined) return false;
  Object.defineProperty(globalThis, "Headers", { value: FetchHeaders, writable: true, configurable: true, enumerable: false });
  return true;
}
