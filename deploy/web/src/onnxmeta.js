// Read the `signcaps` metadata from an ONNX file's bytes. onnxruntime-web does not expose
// ModelProto.metadata_props, so this walks the protobuf wire format: top-level field 14 is a
// repeated StringStringEntryProto {1: key, 2: value}. Everything else is skipped unparsed.

import { ruleFromMeta } from "./rejection.js";

const METADATA_PROPS = 14;

function varint(bytes, pos) {
  let value = 0, shift = 0, byte;
  do {
    if (pos >= bytes.length) throw new Error("truncated ONNX file");
    byte = bytes[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, pos];
}

/** Top-level fields of one protobuf message as [field number, wire type, start, end] (length-delimited payloads). */
function* fields(bytes, start, end) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = varint(bytes, pos);
    const field = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) { [, pos] = varint(bytes, pos); continue; }
    if (wire === 1) { pos += 8; continue; }
    if (wire === 5) { pos += 4; continue; }
    if (wire !== 2) throw new Error(`not an ONNX file (protobuf wire type ${wire})`);
    let len;
    [len, pos] = varint(bytes, pos);
    if (pos + len > end) throw new Error("truncated ONNX file");
    yield [field, wire, pos, pos + len];
    pos += len;
  }
}

/** All metadata_props of the model as a {key: value} object. */
export function metadataProps(bytes) {
  const decoder = new TextDecoder();
  const props = {};
  for (const [field, , start, end] of fields(bytes, 0, bytes.length)) {
    if (field !== METADATA_PROPS) continue;
    let key = "", value = "";
    for (const [f, , s, e] of fields(bytes, start, end)) {
      if (f === 1) key = decoder.decode(bytes.subarray(s, e));
      if (f === 2) value = decoder.decode(bytes.subarray(s, e));
    }
    props[key] = value;
  }
  return props;
}

export const SUPPORTED_VERSIONS = [1, 2, 3]; // 3: the "rejection" rule

/** The checked `signcaps` metadata, with `inputs` filled in for version 1 ({image: "input"}) and `rule`, the
 * rejection rule the page applies (version 3's "rejection"; the default rule for older models). */
export function signcapsMetadata(bytes) {
  const raw = metadataProps(bytes).signcaps;
  if (raw === undefined) throw new Error("the model has no signcaps metadata (not written by `signcaps export`)");
  const meta = JSON.parse(raw);
  if (meta.format !== "signcaps-onnx") throw new Error("the signcaps metadata has no 'signcaps-onnx' format tag");
  const version = Number(meta.format_version);
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new Error(`signcaps ONNX format version ${meta.format_version}; this page reads versions ${SUPPORTED_VERSIONS.join(", ")}`);
  }
  if (version === 1 || !meta.inputs) meta.inputs = { image: "input" };
  if (!meta.inputs.image && !meta.inputs.pose) throw new Error("the model lists neither an image nor a pose input");
  if (meta.inputs.pose && !meta.pose) throw new Error("the model has a pose input but no 'pose' settings");
  try {
    meta.rule = ruleFromMeta(meta.rejection, meta.classes.map(String));
  } catch (err) {
    throw new Error(`the model's rejection rule: ${err.message}`);
  }
  return meta;
}
