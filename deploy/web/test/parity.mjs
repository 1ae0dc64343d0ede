// Runs the page's preprocessing (src/preprocess.js, src/pose.js) and rejection rule (src/rejection.js)
// in node on cases written by tests/test_web.py and prints the results as JSON, for comparison with
// signcaps.preprocess, signcaps.landmarks and signcaps.rejection.
//   node test/parity.mjs cases.json > results.json
import { readFileSync } from "node:fs";
import { cropHand, cropSquare, toTensor } from "../src/preprocess.js";
import { normalizePose } from "../src/pose.js";
import { decide, frameState, poseError, ruleFromMeta, withAccept } from "../src/rejection.js";

const b64 = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString("base64");
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const images = cases.images.map((im) => ({ data: new Uint8Array(Buffer.from(im.rgb, "base64")), width: im.width, height: im.height, channels: 3 }));
// the page crops RGBA canvas frames in place: every other crop reads an RGBA copy of its image
const rgba = (im) => {
  const data = new Uint8ClampedArray(im.width * im.height * 4).fill(255);
  for (let i = 0; i < im.width * im.height; i++) for (let c = 0; c < 3; c++) data[i * 4 + c] = im.data[i * 3 + c];
  return { data, width: im.width, height: im.height, channels: 4 };
};
const result = { crops: [], squares: [], poses: [], rules: [], pose_errors: [] };
for (const [n, c] of cases.crops.entries()) {
  const image = n % 2 ? rgba(images[c.image]) : images[c.image];
  const { crop, box } = cropHand(image, c.landmarks, c.is_left, cases.cfg);
  result.crops.push({ box, crop: b64(crop.data), tensor: b64(toTensor(crop, cases.cfg)) });
}
for (const s of cases.squares) {
  result.squares.push(b64(cropSquare(images[s.image], s.box, s.size).data));
}
for (const p of cases.poses) {
  result.poses.push(b64(normalizePose(p.points, p.is_left, p.pose)));
}
// rejection: {meta, classes, accept, cases: [{lengths, pose_error}]} -> the rule or its error, and each decision
const number = (v) => (v === "NaN" ? NaN : v);
for (const r of cases.rules ?? []) {
  let rule;
  try {
    rule = withAccept(ruleFromMeta(r.meta, r.classes), r.accept ?? null);
  } catch (err) {
    result.rules.push({ error: err.message });
    continue;
  }
  const decisions = r.cases.map((c) => decide(c.lengths, r.classes, rule, number(c.pose_error)));
  result.rules.push({ rule, decisions, state: frameState(decisions.map((d) => d.status)) });
}
for (const p of cases.pose_errors ?? []) {
  result.pose_errors.push(poseError(Float32Array.from(p.decoded), Float32Array.from(p.observed)));
}
process.stdout.write(JSON.stringify(result));
