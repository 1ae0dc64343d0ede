// The page's copy of signcaps.hands.landmarks.normalize_pose (ONNX format version 2, input "landmarks"):
// MediaPipe's 21 normalised landmarks in frame pixels (x*W, y*H, z*W), the left hand mirrored when
// the model asks for it, the wrist moved to the origin, scaled by the 3-D wrist -> middle-finger MCP
// distance. float32 arithmetic like numpy's; tests/test_web.py compares it with the Python function.

const f32 = Math.fround;

/** MediaPipe landmarks ({x, y, z} in [0, 1]) -> (21, 3) frame-pixel points, float32 like numpy holds them. */
export function pixelPoints(landmarks, width, height) {
  return landmarks.map((p) => [f32(p.x * width), f32(p.y * height), f32(p.z * width)]);
}

/** normalize_pose(points, is_left, mirror_left) -> Float32Array(21 * 3), written at `offset` of `out`. */
export function normalizePose(points, isLeft, pose, out = null, offset = 0) {
  const joints = pose.joints ?? 21;
  const origin = pose.origin ?? 0, scaleJoint = pose.scale_joint ?? 9;
  if (pose.normalization && pose.normalization !== "wrist-centred-v1") {
    throw new Error(`unknown pose normalisation '${pose.normalization}'`);
  }
  if (points.length !== joints) throw new Error(`expected ${joints} landmarks, got ${points.length}`);
  const p = points.map(([x, y, z]) => [f32(x), f32(y), f32(z)]);
  if (pose.mirror_left && isLeft) for (const q of p) q[0] = f32(-q[0]);
  const o = p[origin].slice();
  for (const q of p) for (let k = 0; k < 3; k++) q[k] = f32(q[k] - o[k]);
  const s = p[scaleJoint];
  // np.linalg.norm of a float32 vector: sqrt of the float32 dot product, as float32
  const dot = f32(f32(f32(s[0] * s[0]) + f32(s[1] * s[1])) + f32(s[2] * s[2]));
  const scale = f32(Math.max(f32(Math.sqrt(dot)), 1e-6));
  const target = out || new Float32Array(joints * 3);
  p.forEach((q, j) => { for (let k = 0; k < 3; k++) target[offset + j * 3 + k] = f32(q[k] / scale); });
  return target;
}
