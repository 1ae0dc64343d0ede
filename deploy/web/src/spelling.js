// The page's copy of signcaps/signs/spelling.py: words from fingerspelled letters, one frame at a time.
// A letter held in place (its centre within `steady` palm sizes) for hold_s seconds is committed on a frame
// the spotter does not call moving; the same letter again after a slide or bounce (the hand travelled
// `slide` palm sizes away) or release_s without it; a space after space_s without a hand or rest_s of a
// hand that signs nothing; J and Z come from the spotter (a drawn J replaces the I it started from). tests/test_web.py feeds the same frames to both and checks equal text.

export const SPACE = " ";
export const MOTION_START = { J: ["I"], Z: ["D", "G"] };
export const SPELL_DEFAULTS = Object.freeze({ hold_s: 0.3, release_s: 0.3, space_s: 0.5, rest_s: 1.0, slide: 0.5,
                                               steady: 0.25 });

/** SpellConfig.check: every time 0.01 to 60 seconds. */
export function spellConfig(cfg = {}) {
  const out = { ...SPELL_DEFAULTS, ...cfg };
  for (const key of Object.keys(SPELL_DEFAULTS)) {
    const v = out[key];
    if (!(typeof v === "number" && v >= 0.01 && v <= 60)) throw new Error(`spelling ${key} must be 0.01 to 60, got ${v}`);
  }
  return Object.freeze(out);
}

/** _where: [centre x, centre y, palm size] of 21 landmarks (joint mean; wrist to middle-finger base), or null. */
export function where(landmarks) {
  if (!landmarks || landmarks.length < 21) return null;
  let sx = 0, sy = 0;
  for (const p of landmarks) { sx += Number(p[0]); sy += Number(p[1]); }
  const size = Math.hypot(landmarks[9][0] - landmarks[0][0], landmarks[9][1] - landmarks[0][1]);
  return size > 0 && Number.isFinite(size) ? [sx / landmarks.length, sy / landmarks.length, size] : null;
}

/** A spotter that never sees travel nor a drawn letter (tests; the page gives motion.js's MotionSpotter). */
export const stillSpotter = () => ({ update: () => null, moving: () => false, reset: () => {} });

export class Speller {
  constructor(cfg = {}, spotter = stillSpotter()) {
    this.cfg = spellConfig(cfg);
    this.spotter = spotter;
    this.chars = [];
    this.runLabel = null;
    this.runStart = null;
    this.runAt = null;
    this.blocked = [];
    this.blockedSeen = 0;
    this.drawn = false;
    this.anchor = null;
    this.reach = 0;
    this.goneSince = null;
    this.restSince = null;
    this.stamps = []; // when each character was committed
    this.edited = false; // deleted or cleared: no space until a letter is shown again
  }

  get text() { return this.chars.join(""); }

  /** One frame at source time t (seconds): {committed, text, progress}, as Speller.update. */
  update(t, landmarks, label, best = null, resting = false) {
    let committed = this.spotter.update(t, landmarks, label, best);
    const moving = this.spotter.moving();
    if (committed !== null && committed !== undefined) this.commitMoving(committed, t);
    else committed = null;
    const hand = landmarks !== null && landmarks !== undefined;
    this.goneSince = hand ? null : (this.goneSince === null ? t : this.goneSince);
    this.restSince = resting && label === null ? (this.restSince === null ? t : this.restSince) : null;
    this.edited = this.edited && label === null;
    if (this.dueSpace(t)) committed = this.append(SPACE, t);
    const here = where(landmarks);
    if (label === null) {
      this.runLabel = label;
      this.runStart = this.runAt = null;
    } else if (label !== this.runLabel || this.runStart === null || this.strayed(here)) {
      this.runLabel = label;
      this.runStart = t;
      this.runAt = here;
    }
    if (this.blocked.length) {
      const slid = moving && !this.drawn && this.travelled(landmarks) >= this.cfg.slide;
      if (this.blocked.includes(this.runLabel) && !slid) this.blockedSeen = t;
      else if (slid || t - this.blockedSeen >= this.cfg.release_s) this.blocked = [];
    }
    let progress = 0;
    if (this.runStart !== null && !this.blocked.includes(this.runLabel)) {
      const held = t - this.runStart;
      if (held >= this.cfg.hold_s - 1e-9 && !moving) {
        committed = this.append(this.runLabel, t);
        this.block([this.runLabel], t, false, landmarks);
      } else {
        progress = Math.min(1, Math.max(0, held / this.cfg.hold_s));
      }
    }
    return { committed, text: this.text, progress };
  }

  strayed(here) {
    if (here === null || this.runAt === null) return false;
    return Math.hypot(here[0] - this.runAt[0], here[1] - this.runAt[1]) / this.runAt[2] > this.cfg.steady;
  }

  commitMoving(letter, t) {
    const window = this.spotter.cfg?.window_s ?? 1.2;
    const starts = MOTION_START[letter] ?? [];
    while (this.chars.length && starts.includes(this.chars[this.chars.length - 1])
           && t - this.stamps[this.stamps.length - 1] <= window + this.cfg.hold_s) {
      this.chars.pop();
      this.stamps.pop();
    }
    this.append(letter, t);
    this.block([letter, ...(MOTION_START[letter] ?? [])], t, true);
    this.runLabel = this.runStart = this.runAt = null;
  }

  block(letters, t, drawn, landmarks = null) {
    this.blocked = letters;
    this.blockedSeen = t;
    this.drawn = drawn;
    this.anchor = where(landmarks);
    this.reach = 0;
  }

  travelled(landmarks) {
    const here = where(landmarks);
    if (here !== null && this.anchor === null) this.anchor = here;
    else if (here !== null) this.reach = Math.max(this.reach, Math.hypot(here[0] - this.anchor[0], here[1] - this.anchor[1]) / this.anchor[2]);
    return this.reach;
  }

  dueSpace(t) {
    if (!this.chars.length || this.chars[this.chars.length - 1] === SPACE || this.edited) return false;
    const gone = this.goneSince !== null && t - this.goneSince >= this.cfg.space_s - 1e-9;
    const rest = this.restSince !== null && t - this.restSince >= this.cfg.rest_s - 1e-9;
    return gone || rest;
  }

  append(char, t) {
    this.chars.push(char);
    this.stamps.push(t);
    return char;
  }

  /** The page's Backspace: remove the last character; the letter held on counts from now. */
  delete() {
    this.chars.pop();
    this.stamps.pop();
    this.blocked = [];
    this.edited = true;
    this.runLabel = this.runStart = this.runAt = null;
    return this.text;
  }

  /** The page's c key: start a new text. */
  clear() {
    this.chars = [];
    this.stamps = [];
    this.blocked = [];
    this.edited = true;
    this.runLabel = this.runStart = this.runAt = null;
    this.spotter.reset();
  }

  /** The text spelled, trailing space left out (null when empty). */
  flush() {
    const text = this.text.replace(/ +$/, "");
    return text || null;
  }
}
