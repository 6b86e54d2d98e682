// What the generated code's `fileDesc("<base64>", imports)` does when a
// module loads, for a descriptor the bundler has already decoded: the
// bundles (client/bundle.mjs, daemon/bundle.mjs, plugins/bundle.mjs) rewrite
// each such call into fileDescDecoded(<the FileDescriptorProto, as object
// literals>, imports) with proto/descriptor-literals.mjs. Decoding the
// base64 at run time meant first building descriptor.proto's own
// descriptor (protobuf-es's `boot`) and then a reflective binary parse:
// about 25 ms of every `wfctl` command's start-up.
import { type DescFile, createFileRegistry } from "@bufbuild/protobuf";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";

/** The file `root` describes, its imports resolved among `imports` (as protobuf-es's fileDesc; `root`'s JSON names already restored). */
export function fileDescDecoded(root: FileDescriptorProto, imports?: DescFile[]): DescFile {
  root.dependency = imports?.map((file) => file.proto.name) ?? [];
  const registry = createFileRegistry(root, (name) => imports?.find((file) => file.proto.name === name));
  const file = registry.getFile(root.name);
  if (!file) throw new Error(`descriptor of ${root.name} did not register`);
  return file;
}
