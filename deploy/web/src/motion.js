// The page's copy of signcaps/signs/motion.py: the moving letters J and Z from the recent track of one hand.
// Each frame's handshape is read from the landmarks (I: only the little finger out; index: only the index out),
// helped by the letters model's answer; the hand's speed (palm sizes per second over speed_s) cuts the track
// into strokes; a stroke that held one handshape, is short enough and spans a few palms is judged on its
// fingertip path (strokes.js). moving() says whether the hand travels now: spelling.js commits no letter then.
// tests/test_web.py feeds the same tracks to both and checks equal letters, moving() and speeds.
import { judge, METHODS } from "./strokes.js";

const WRIST = 0, INDEX_MCP = 5, MIDDLE_MCP = 9, PINKY_MCP = 17, INDEX_TIP = 8, PINKY_TIP = 20;
const FINGERS = [[6, 8], [10, 12], [14, 16], [18, 20]];
const I_SHAPE = "I", INDEX_SHAPE = "index";
const SHAPE_LETTER = { [I_SHAPE]: "J", [INDEX_SHAPE]: "Z" };
const SHAPE_OF_ANSWER = { I: I_SHAPE, D: INDEX_SHAPE, 1: INDEX_SHAPE };
const REST = 0.3;

export const MOTION_DEFAULTS = Object.freeze({
  window_s: 2.0, speed_s: 0.1, move_speed: 1.0, still_s: 0.15, gap_s: 0.2, min_extent: 0.8, max_extent: 8.0,
  min_shape: 0.6, extended: 1.15, method: "dtw", threshold: 0.12,
});

/** MotionConfig.check. */
export function motionConfig(cfg = {}) {
  const out = { ...MOTION_DEFAULTS, ...cfg };
  for (const key of ["window_s", "speed_s", "move_speed", "still_s", "gap_s", "min_extent", "max_extent", "extended", "threshold"]) {
    if (!(typeof out[key] === "number" && Number.isFinite(out[key]) && out[key] > 0)) throw new Error(`motion.${key} must be a positive number, got ${out[key]}`);
  }
  if (out.min_extent >= out.max_extent) throw new Error(`motion.min_extent (${out.min_extent}) must be below motion.max_extent (${out.max_extent})`);
  if (!(out.min_shape > 0 && out.min_shape <= 1)) throw new Error(`motion.min_shape must be in (0, 1], got ${out.min_shape}`);
  if (!METHODS.includes(out.method)) throw new Error(`motion.method must be one of ${METHODS.join(", ")}, got ${out.method}`);
  return Object.freeze(out);
}

const norm = (a, b) => { const dx = a[0] - b[0], dy = a[1] - b[1]; return Math.sqrt(dx * dx + dy * dy); };

/** The palm's size in pixels: wrist to the middle finger's base. */
export const handSize = (marks) => norm(marks[MIDDLE_MCP], marks[WRIST]);

/** "I", "index" or null from the 21 landmarks. */
export function handshape(marks, extended = 1.15) {
  const wrist = marks[WRIST];
  const out = FINGERS.map(([pip, tip]) => norm(marks[tip], wrist) > extended * norm(marks[pip], wrist));
  if (!out[0] && !out[1] && !out[2] && out[3]) return I_SHAPE;
  if (out[0] && !out[1] && !out[2] && !out[3]) return INDEX_SHAPE;
  return null;
}

/** The x direction of the thumb side of the palm, in palm sizes. */
export function thumbSide(marks) {
  const size = handSize(marks);
  return size > 0 ? (marks[INDEX_MCP][0] - marks[PINKY_MCP][0]) / size : 0;
}

/** numpy.median. */
function median(values) {
  const v = [...values].sort((a, b) => a - b), n = v.length, h = n >> 1;
  return n % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

export class MotionSpotter {
  constructor(cfg = {}) {
    this.cfg = motionConfig(cfg);
    this.track = [];
    this.lastSeen = -Infinity;
    this.speed = 0;
    this.strokeStart = null;
    this.stillSince = null;
  }

  reset() {
    this.track = [];
    this.speed = 0;
    this.strokeStart = this.stillSince = null;
  }

  moving() { return this.speed > this.cfg.move_speed; }

  /** One frame: t in seconds, the first hand's (21, 2) pixel landmarks or null, the accepted letter (null when
   * rejected), its longest letter capsule; "J" or "Z" on the frame a drawn one completes, else null. */
  update(t, landmarks, label, best) {
    if (landmarks === null || landmarks === undefined) {
      if (t - this.lastSeen > this.cfg.gap_s) this.reset();
      return null;
    }
    const marks = landmarks.map((p) => [Number(p[0]), Number(p[1])]);
    const size = handSize(marks);
    if (!marks.every((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])) || size <= 0) return null;
    if (this.track.length && t <= this.track[this.track.length - 1].t) this.reset();
    this.lastSeen = t;
    const shape = handshape(marks, this.cfg.extended) || SHAPE_OF_ANSWER[label || best || ""] || null;
    let sx = 0, sy = 0;
    for (const p of marks) { sx += p[0]; sy += p[1]; }
    const points = [[sx / marks.length, sy / marks.length], marks[INDEX_TIP], marks[PINKY_TIP]];
    this.track.push({ t, points, size, shape, thumb: thumbSide(marks), speed: 0 });
    const c = this.cfg;
    while (this.track[0].t < t - c.window_s - c.still_s - c.speed_s) this.track.shift();
    this.speed = this.track[this.track.length - 1].speed = this.currentSpeed();
    return this.advance(t);
  }

  currentSpeed() {
    const now = this.track[this.track.length - 1];
    const then = this.track.find((f) => f.t >= now.t - this.cfg.speed_s - 1e-9) ?? now;
    if (then === now) return 0;
    const size = median(this.track.map((f) => f.size));
    const travel = Math.max(...now.points.map((p, i) => norm(p, then.points[i])));
    return travel / size / (now.t - then.t);
  }

  advance(t) {
    if (this.moving()) {
      this.stillSince = null;
      if (this.strokeStart === null) this.strokeStart = this.restBefore();
      return null;
    }
    if (this.strokeStart === null) return null;
    if (this.stillSince === null) this.stillSince = t;
    if (t - this.stillSince < this.cfg.still_s) return null;
    const start = this.strokeStart;
    this.strokeStart = this.stillSince = null;
    return this.judgeStroke(this.track.filter((f) => f.t >= start - 1e-9), t - start);
  }

  restBefore() {
    const start = this.track[this.track.length - 1].t - this.cfg.speed_s;
    for (let i = this.track.length - 1; i >= 0; i--) {
      if (this.track[i].speed <= REST * this.cfg.move_speed) return Math.min(start, this.track[i].t);
    }
    return this.track[0].t;
  }

  judgeStroke(frames, duration) {
    const c = this.cfg;
    if (duration > c.window_s + c.still_s + c.speed_s || frames.length < 4) return null;
    const count = (s) => frames.filter((f) => f.shape === s).length;
    const shape = count(INDEX_SHAPE) > count(I_SHAPE) ? INDEX_SHAPE : I_SHAPE; // Python's max: I on a tie
    if (count(shape) < c.min_shape * frames.length) return null;
    const tip = shape === INDEX_SHAPE ? 1 : 2;
    const path = frames.map((f) => f.points[tip]);
    const size = median(frames.map((f) => f.size));
    const xs = path.map((p) => p[0]), ys = path.map((p) => p[1]);
    const extent = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)) / size;
    if (!(c.min_extent <= extent && extent <= c.max_extent)) return null;
    const letter = SHAPE_LETTER[shape];
    let thumb = letter === "J" ? median(frames.map((f) => f.thumb)) : 0;
    thumb = Math.abs(thumb) < 0.3 ? 0 : Math.sign(thumb);
    return judge(path, letter, thumb, c.method, c.threshold) ? letter : null;
  }
}
