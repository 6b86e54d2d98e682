// Build time: the generated code's descriptors, decoded by the bundler
// instead of at every start. protoc-gen-es embeds each .proto file's
// descriptor as base64, `fileDesc("<base64>", imports)`, which decodes it
// when the module loads: protobuf-es first builds descriptor.proto's own
// descriptor (`boot`), then parses the bytes reflectively, cold. That was
// about 25 ms of every `wfctl` command's start-up, and paid again by every
// daemon and bundled plugin. The `descriptorLiterals` rolldown plugin
// rewrites each call into proto/file-desc.ts's fileDescDecoded(<the same
// FileDescriptorProto as object literals>, imports); what fileDesc would
// have built from it is built the same way (test/unit/descriptor-literals).
import { fromBinary } from "@bufbuild/protobuf";
import { protoCamelCase } from "@bufbuild/protobuf/reflect";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** A generated module's descriptor call: the base64, and the imports' array if any. */
export const FILE_DESC_CALL = /\bfileDesc\("([A-Za-z0-9+/=]+)"(?:,\s*(\[[^\]]*\]))?\)/g;

/** As protobuf-es's restoreJsonNames (codegenv2, private): protoc-gen-es leaves out the JSON names it can derive. */
function restoreJsonNames(message) {
  for (const field of message.field) {
    if (!Object.hasOwn(field, "jsonName") || field.jsonName === undefined) field.jsonName = protoCamelCase(field.name);
  }
  message.nestedType.forEach(restoreJsonNames);
}

/**
 * A JavaScript expression that makes the FileDescriptorProto `b64` holds,
 * its JSON names restored, as fileDesc has it before registering it: the
 * same own properties in the same order, and for each message type one
 * prototype holding the defaults that fromBinary's messages inherit (proto2
 * presence is an own property there, as protobuf-es reads it).
 */
export function descriptorLiteral(b64) {
  const root = fromBinary(FileDescriptorProtoSchema, base64Decode(b64));
  root.messageType.forEach(restoreJsonNames);
  const prototypes = new Map();
  const literal = (value) => {
    if (Array.isArray(value)) return `[${value.map(literal).join(",")}]`;
    if (typeof value === "bigint") return `${value}n`;
    if (value instanceof Uint8Array) return `new Uint8Array([${value.join(",")}])`;
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    const own = `{${Object.keys(value).map((key) => `${JSON.stringify(key)}:${literal(value[key])}`).join(",")}}`;
    const prototype = Object.getPrototypeOf(value);
    if (prototype === Object.prototype) return own;
    if (Object.getPrototypeOf(prototype) !== Object.prototype) throw new Error(`descriptor-literals: ${value.$typeName} has a deeper prototype chain than expected`);
    let name = prototypes.get(prototype);
    if (name === undefined) {
      name = `p${prototypes.size}`;
      prototypes.set(prototype, name);
    }
    return `m(${name},${own})`;
  };
  const body = literal(root);
  const defaults = [...prototypes].map(([prototype, name]) => `${name}=${literal({ ...prototype })}`);
  return `(()=>{const m=(p,o)=>Object.assign(Object.create(p),o)${defaults.map((d) => `,${d}`).join("")};return ${body}})()`;
}

/**
 * The rolldown plugin: every generated module's fileDesc calls become
 * fileDescDecoded calls, imported from `helper` (the path of
 * proto/file-desc's built or source module). The build fails if a
 * generated module calls fileDesc in a way it does not recognise, rather
 * than quietly decoding at run time again.
 */
export function descriptorLiterals(helper) {
  return {
    name: "wfctl-descriptor-literals",
    transform(code, id) {
      if (!/_pb\.[jt]s$/.test(id) || !code.includes("fileDesc(")) return null;
      const rewritten = code.replace(FILE_DESC_CALL, (_, b64, imports) => `__wfctlFileDescDecoded(${descriptorLiteral(b64)}${imports ? `, ${imports}` : ""})`);
      if (/\bfileDesc\(/.test(rewritten)) throw new Error(`proto/descriptor-literals.mjs: ${id} calls fileDesc in a form FILE_DESC_CALL does not match; update it`);
      return { code: `import { fileDescDecoded as __wfctlFileDescDecoded } from ${JSON.stringify(helper)};\n${rewritten}`, map: null };
    },
  };
}
