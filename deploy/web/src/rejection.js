// The page's copy of signcaps/rejection.py: the rejection rule stored in the model's metadata (key
// "rejection", format 3) turns capsule lengths, and the winner's pose error when the rule measures it,
// into "ok", "uncertain" ("?": below the threshold) or "none" (no sign). tests/test_web.py runs it in
// node on thousands of random cases and on real frames against the Python functions.

export const RULE_FORMAT = "signcaps-reject-v1";
export const DEFAULT_ACCEPT = 0.6; // rejection.DEFAULT_ACCEPT: live, predict and this page share it
export const BELOW_THRESHOLD = "below threshold", ALL_SHORT = "all capsules short";
export const NONE_CLASS = "none class", POSE_DISAGREES = "pose disagrees";

const finite = (v) => typeof v === "number" && Number.isFinite(v);

function checked(rule, classes) {
  if (!(finite(rule.accept) && rule.accept >= 0 && rule.accept <= 1)) throw new Error(`rejection 'accept' must be in [0, 1], got ${rule.accept}`);
  if (!(finite(rule.none_below) && rule.none_below >= 0 && rule.none_below <= rule.accept)) {
    throw new Error(`rejection 'none_below' must be in [0, accept = ${rule.accept}], got ${rule.none_below}`);
  }
  if (rule.max_pose_error !== null && !(finite(rule.max_pose_error) && rule.max_pose_error > 0)) {
    throw new Error(`rejection 'max_pose_error' must be a positive number or null, got ${rule.max_pose_error}`);
  }
  if (rule.none_class !== null) {
    if (typeof rule.none_class !== "string") throw new Error(`rejection 'none_class' must be a class name or null`);
    if (!classes.includes(rule.none_class)) throw new Error(`rejection 'none_class' '${rule.none_class}' is not one of the model's classes`);
    if (classes.length < 2) throw new Error("the model's only class is its none class: there is no sign to recognise");
  }
  return Object.freeze(rule);
}

/** RejectionRule.from_meta: the metadata's rule (undefined/null: the default rule), checked. */
export function ruleFromMeta(meta, classes) {
  if (meta === undefined || meta === null) return checked({ accept: DEFAULT_ACCEPT, none_below: 0, none_class: null, max_pose_error: null }, classes);
  if (typeof meta !== "object" || Array.isArray(meta)) throw new Error("the rejection rule should be a mapping");
  if (meta.rule !== RULE_FORMAT) throw new Error(`unknown rejection rule '${meta.rule}'; this page applies '${RULE_FORMAT}'`);
  for (const key of ["accept", "none_below"]) {
    if (key in meta && !finite(meta[key])) throw new Error(`rejection '${key}' should be a number`);
  }
  const pose = meta.max_pose_error ?? null;
  if (pose !== null && !finite(pose)) throw new Error("rejection 'max_pose_error' should be a number or null");
  return checked({ accept: meta.accept ?? DEFAULT_ACCEPT, none_below: meta.none_below ?? 0,
                   none_class: meta.none_class ?? null, max_pose_error: pose }, classes);
}

/** RejectionRule.with_accept: another threshold (the page's ?threshold=; null keeps the model's). */
export function withAccept(rule, accept) {
  if (accept === null || accept === undefined) return rule;
  if (!(finite(accept) && accept >= 0 && accept <= 1)) throw new Error(`threshold must be in [0, 1], got ${accept}`);
  return Object.freeze({ ...rule, accept, none_below: Math.min(rule.none_below, accept) });
}

/** rejection.pose_error for one hand: decoded and observed (joints * 3 floats, normalised pose units) ->
 * the mean Euclidean joint distance, as float32 (computed in double: within float32 rounding of numpy's). */
export function poseError(decoded, observed, joints = 21) {
  let total = 0;
  for (let j = 0; j < joints; j++) {
    let squared = 0;
    for (let k = 0; k < 3; k++) {
      const d = Math.fround(decoded[j * 3 + k]) - Math.fround(observed[j * 3 + k]);
      squared += d * d;
    }
    total += Math.sqrt(squared);
  }
  return Math.fround(total / joints);
}

const argmax = (values, skip = -1) => {
  let best = -1;
  for (let i = 0; i < values.length; i++) if (i !== skip && (best < 0 || values[i] > values[best])) best = i;
  return best;
};

/** rejection.decide: {index (the winning sign), label (its name when ok), status, reason}. */
export function decide(lengths, classes, rule, poseErr = null) {
  if (lengths.length !== classes.length) throw new Error(`${lengths.length} capsule lengths for ${classes.length} classes`);
  const noneIndex = rule.none_class === null ? -1 : classes.indexOf(rule.none_class);
  const best = argmax(lengths, noneIndex);
  if (noneIndex >= 0 && argmax(lengths) === noneIndex) return { index: best, label: null, status: "none", reason: NONE_CLASS };
  if (poseErr !== null && rule.max_pose_error !== null && !(poseErr <= rule.max_pose_error)) {
    return { index: best, label: null, status: "none", reason: POSE_DISAGREES };
  }
  if (lengths[best] < rule.none_below) return { index: best, label: null, status: "none", reason: ALL_SHORT };
  if (lengths[best] < rule.accept) return { index: best, label: null, status: "uncertain", reason: BELOW_THRESHOLD };
  return { index: best, label: classes[best], status: "ok", reason: "" };
}

/** rejection.frame_state: ok if any hand is recognised, else uncertain, else none; no_hand without hands. */
export function frameState(statuses) {
  if (!statuses.length) return "no_hand";
  for (const status of ["ok", "uncertain"]) if (statuses.includes(status)) return status;
  return "none";
}

/** The rule in words, for the status line (as `signcaps export` prints it). */
export function describeRule(rule) {
  const parts = [`ok from ${rule.accept.toFixed(2)}`];
  if (rule.none_below) parts.push(`none below ${rule.none_below.toFixed(2)}`);
  if (rule.none_class !== null) parts.push(`none when '${rule.none_class}' wins`);
  if (rule.max_pose_error !== null) parts.push(`none when the pose error exceeds ${rule.max_pose_error.toFixed(2)}`);
  return parts.join(", ");
}
