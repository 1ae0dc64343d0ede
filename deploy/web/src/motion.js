// The page's copy of signcaps/signs/motion.py and the template judge of signcaps/signs/strokes.py: the
// moving letters J and Z from the recent track of one hand (letters mode). tests/test_motion_web.py runs
// it in node (test/motion_parity.mjs) on the same tracks as Python and expects the same letters on the
// same frames, the same moving() and the same template distances.
// Only the shipped judge ("template") is ported; other methods are refused.

export const I_SHAPE = "I", INDEX_SHAPE = "index";
const WRIST = 0, THUMB_TIP = 4, INDEX_MCP = 5, INDEX_TIP = 8, MIDDLE_MCP = 9, RING_MCP = 13, PINKY_MCP = 17, PINKY_TIP = 20;
const FINGERS = [[6, 8], [10, 12], [14, 16], [18, 20]]; // (pip, tip) of the index, middle, ring and little fingers
const SHAPE_LETTER = { [I_SHAPE]: "J", [INDEX_SHAPE]: "Z" };
const SHAPE_OF_ANSWER = { I: I_SHAPE, D: INDEX_SHAPE, 1: INDEX_SHAPE };
const SMOOTH = 3;
export const SAMPLES = 32;

export const DEFAULT_MOTION = Object.freeze({
  window_s: 2.0, speed_s: 0.15, move_speed: 1.2, still_speed: 0.5, still_s: 0.15, gap_s: 0.3, min_extent: 0.5,
  max_extent: 8.0, min_shape: 0.6, extended: 1.1, thumb_out: 0.9, method: "template", threshold: 0.25, turn: true,
});
const TURNS = { J: [130, 180], Z: [0, 60] }, TURN_SPAN = 4;

const finite = (v) => typeof v === "number" && Number.isFinite(v);
const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
const mean = (xs) => xs.reduce((s, v) => s + v, 0) / xs.length;
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** MotionConfig.check: the settings, or an Error with the Python message. */
export function motionConfig(overrides = {}) {
  const cfg = { ...DEFAULT_MOTION, ...overrides };
  for (const name of ["window_s", "speed_s", "move_speed", "still_speed", "still_s", "gap_s", "min_extent",
    "max_extent", "extended", "thumb_out", "threshold"]) {
    if (!(finite(cfg[name]) && cfg[name] > 0)) throw new Error(`motion.${name} must be a positive number, got ${cfg[name]}`);
  }
  if (cfg.still_speed >= cfg.move_speed) throw new Error("motion.still_speed must be below motion.move_speed");
  if (cfg.min_extent >= cfg.max_extent) throw new Error("motion.min_extent must be below motion.max_extent");
  if (!(finite(cfg.min_shape) && cfg.min_shape > 0 && cfg.min_shape <= 1)) throw new Error("motion.min_shape must be in (0, 1]");
  if (typeof cfg.turn !== "boolean") throw new Error(`motion.turn must be true or false, got ${cfg.turn}`);
  if (cfg.method !== "template") throw new Error(`motion.method ${cfg.method} is not ported to the page (template only)`);
  return Object.freeze(cfg);
}

export const handSize = (m) => dist(m[MIDDLE_MCP], m[WRIST]);

/** motion.handshape: "I", "index" or null from the 21 (x, y) landmarks. */
export function handshape(m, extended = 1.1, thumbOut = 0.9) {
  if (dist(m[THUMB_TIP], m[RING_MCP]) > thumbOut * handSize(m)) return null;
  const out = FINGERS.map(([pip, tip]) => dist(m[tip], m[WRIST]) > extended * dist(m[pip], m[WRIST]));
  if (!out[0] && !out[1] && !out[2] && out[3]) return I_SHAPE;
  if (out[0] && !out[1] && !out[2] && !out[3]) return INDEX_SHAPE;
  return null;
}

function thumbSide(m) {
  const size = handSize(m);
  return size > 0 ? (m[INDEX_MCP][0] - m[PINKY_MCP][0]) / size : 0;
}

// ------------------------------------------------------------------ strokes.py (template judge)

function interp(at, along, values) {
  const out = new Array(at.length);
  let j = 0;
  for (let i = 0; i < at.length; i++) {
    const x = at[i];
    if (x >= along[along.length - 1]) { out[i] = values[values.length - 1]; continue; }
    if (x <= along[0]) { out[i] = values[0]; continue; }
    while (along[j + 1] <= x) j++;
    const slope = (values[j + 1] - values[j]) / (along[j + 1] - along[j]);
    out[i] = slope * (x - along[j]) + values[j];
  }
  return out;
}

/** strokes.resample: n points equally spaced along the polyline. */
export function resample(points, n = SAMPLES) {
  const kept = [points[0]], along = [0];
  for (let i = 1; i < points.length; i++) {
    const step = dist(points[i], points[i - 1]);
    if (step > 0) { kept.push(points[i]); along.push(along[along.length - 1] + step); }
  }
  const total = along[along.length - 1];
  if (total <= 0) return Array.from({ length: n }, () => [points[0][0], points[0][1]]);
  const step = total / (n - 1);
  const at = Array.from({ length: n }, (_, i) => (i === n - 1 ? total : i * step));
  const xs = interp(at, along, kept.map((p) => p[0])), ys = interp(at, along, kept.map((p) => p[1]));
  return xs.map((x, i) => [x, ys[i]]);
}

/** strokes.normalise: resampled, centred on its bounding box, the longer side scaled to 1. */
export function normalise(points, n = SAMPLES) {
  const path = resample(points, n);
  const lo = [Math.min(...path.map((p) => p[0])), Math.min(...path.map((p) => p[1]))];
  const hi = [Math.max(...path.map((p) => p[0])), Math.max(...path.map((p) => p[1]))];
  const side = Math.max(hi[0] - lo[0], hi[1] - lo[1]);
  const scale = side > 0 ? side : 1;
  return path.map((p) => [(p[0] - (lo[0] + hi[0]) / 2) / scale, (p[1] - (lo[1] + hi[1]) / 2) / scale]);
}

function templatePoints(letter) {
  if (letter === "Z") return [[0, 0], [1, 0], [0, 1], [1, 1]];
  const pts = [];
  for (let i = 0; i < 20; i++) pts.push([0, (0.6 * i) / 19]);
  for (let i = 1; i < 40; i++) {
    const a = (Math.PI * i) / 39;
    pts.push([0.25 - 0.25 * Math.cos(a), 0.6 + 0.25 * Math.sin(a)]);
  }
  return pts;
}
const TEMPLATES = { J: normalise(templatePoints("J")), Z: normalise(templatePoints("Z")) };

const orientations = (thumb) => (thumb > 0 ? [1] : thumb < 0 ? [-1] : [1, -1]);

/** strokes.template_distance: mean point-to-point distance to the nearer orientation of the template. */
export function templateDistance(path, letter, thumb = 0) {
  const own = normalise(path), tpl = TEMPLATES[letter];
  let best = Infinity;
  for (const s of orientations(thumb)) best = Math.min(best, mean(own.map((p, i) => dist([p[0] * s, p[1]], tpl[i]))));
  return best;
}

/** strokes.end_turn: degrees (0..180) between the stroke's direction at its start and at its end. */
export function endTurn(path) {
  const own = normalise(path), n = own.length;
  const a = [own[TURN_SPAN][0] - own[0][0], own[TURN_SPAN][1] - own[0][1]];
  const b = [own[n - 1][0] - own[n - 1 - TURN_SPAN][0], own[n - 1][1] - own[n - 1 - TURN_SPAN][1]];
  const turn = ((Math.atan2(b[1], b[0]) - Math.atan2(a[1], a[0])) * 180) / Math.PI;
  const wrapped = (turn + 180) - 360 * Math.floor((turn + 180) / 360) - 180; // Python's % is a floor modulo
  return Math.abs(wrapped);
}

function turnsLike(path, letter) {
  const [low, high] = TURNS[letter], turn = endTurn(path);
  return low <= turn && turn <= high;
}

// ------------------------------------------------------------------ motion.py: the spotter

export class MotionSpotter {
  constructor(cfg = {}) {
    this.cfg = motionConfig(cfg);
    this.track = [];
    this.lastSeen = -Infinity;
    this.reset();
  }

  reset() {
    this.track = [];
    this.speed = 0;
    this.strokeStart = null;
    this.stillSince = null;
  }

  moving() { return this.strokeStart !== null && this.stillSince === null; }

  /** One frame: t seconds, landmarks [[x, y] x 21] in pixels or null, the view's accepted label (null when
   * rejected) and its best letter. Returns "J" or "Z" on the frame a drawn letter completes, else null. */
  update(t, landmarks, label, best) {
    if (landmarks == null) {
      if (t - this.lastSeen > this.cfg.gap_s) this.reset();
      return null;
    }
    const marks = landmarks.map((p) => [p[0], p[1]]);
    const size = handSize(marks);
    if (!marks.every((p) => finite(p[0]) && finite(p[1])) || !(size > 0)) return null;
    if (this.track.length && t <= this.track[this.track.length - 1].t) this.reset();
    this.lastSeen = t;
    const centre = [mean(marks.map((p) => p[0])), mean(marks.map((p) => p[1]))];
    this.track.push({ t, points: [centre, marks[INDEX_TIP], marks[PINKY_TIP]], size, shape: this.shape(marks, label, best),
      thumb: thumbSide(marks), speed: 0 });
    const keep = t - this.cfg.window_s - this.cfg.still_s - this.cfg.speed_s;
    while (this.track[0].t < keep) this.track.shift();
    this.speed = this.track[this.track.length - 1].speed = this.currentSpeed();
    return this.advance(t);
  }

  shape(marks, label, best) {
    const accepted = label != null && label !== "none" && label !== "?";
    if (accepted && !(label in SHAPE_OF_ANSWER)) return null;
    return handshape(marks, this.cfg.extended, this.cfg.thumb_out) ?? SHAPE_OF_ANSWER[label || best || ""] ?? null;
  }

  currentSpeed() {
    const track = this.track, now = track[track.length - 1];
    let then = track.length - 1;
    while (then >= 0 && track[then].t > now.t - this.cfg.speed_s + 1e-9) then--;
    if (then < 0) return 0;
    const late = track.slice(Math.max(then + 1, track.length - SMOOTH)), early = track.slice(Math.max(0, then - SMOOTH + 1), then + 1);
    const dt = mean(late.map((f) => f.t)) - mean(early.map((f) => f.t));
    const size = mean([...late, ...early].map((f) => f.size));
    let travel = 0;
    for (let k = 0; k < 3; k++) {
      const a = [mean(late.map((f) => f.points[k][0])), mean(late.map((f) => f.points[k][1]))];
      const b = [mean(early.map((f) => f.points[k][0])), mean(early.map((f) => f.points[k][1]))];
      travel = Math.max(travel, dist(a, b));
    }
    return dt > 0 ? travel / size / dt : 0;
  }

  advance(t) {
    if (this.speed > this.cfg.move_speed || (this.strokeStart !== null && this.speed >= this.cfg.still_speed)) {
      this.stillSince = null;
      if (this.strokeStart === null) this.strokeStart = this.restBefore();
      return null;
    }
    if (this.strokeStart === null) return null;
    if (this.stillSince === null) this.stillSince = t;
    if (t - this.stillSince < this.cfg.still_s) return null;
    const start = this.strokeStart;
    this.strokeStart = this.stillSince = null;
    return this.judge(this.track.filter((f) => f.t >= start - 1e-9), t - start);
  }

  restBefore() {
    const start = this.track[this.track.length - 1].t - this.cfg.speed_s;
    for (let i = this.track.length - 1; i >= 0; i--) {
      if (this.track[i].speed <= this.cfg.still_speed) return Math.min(start, this.track[i].t);
    }
    return this.track[0].t;
  }

  judge(frames, duration) {
    const cfg = this.cfg;
    if (duration > cfg.window_s + cfg.still_s + cfg.speed_s || frames.length < 4) return null;
    const count = (s) => frames.filter((f) => f.shape === s).length;
    const shape = count(INDEX_SHAPE) > count(I_SHAPE) ? INDEX_SHAPE : I_SHAPE;
    if (count(shape) < cfg.min_shape * frames.length) return null;
    const path = this.drawn(frames, shape === INDEX_SHAPE ? 1 : 2);
    const size = median(frames.map((f) => f.size));
    const extent = Math.max(Math.max(...path.map((p) => p[0])) - Math.min(...path.map((p) => p[0])),
      Math.max(...path.map((p) => p[1])) - Math.min(...path.map((p) => p[1]))) / size;
    if (!(cfg.min_extent <= extent && extent <= cfg.max_extent)) return null;
    const letter = SHAPE_LETTER[shape];
    let thumb = letter === "J" ? median(frames.map((f) => f.thumb)) : 0;
    thumb = Math.abs(thumb) < 0.3 ? 0 : Math.sign(thumb);
    const ok = templateDistance(path, letter, thumb) <= cfg.threshold && (!cfg.turn || turnsLike(path, letter));
    return ok ? letter : null;
  }

  drawn(frames, tip) {
    const fast = frames.filter((f) => f.speed >= this.cfg.still_speed).map((f) => f.t);
    const [begin, end] = fast.length ? [fast[0] - this.cfg.speed_s, fast[fast.length - 1]] : [frames[0].t, frames[frames.length - 1].t];
    const points = frames.filter((f) => begin - 1e-9 <= f.t && f.t <= end + 1e-9).map((f) => f.points[tip]);
    if (points.length < SMOOTH) return points;
    const out = [];
    for (let i = 0; i + SMOOTH <= points.length; i++) {
      const win = points.slice(i, i + SMOOTH);
      out.push([mean(win.map((p) => p[0])), mean(win.map((p) => p[1]))]);
    }
    return out;
  }
}
