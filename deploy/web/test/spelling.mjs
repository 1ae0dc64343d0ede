// Runs the page's speller (src/spelling.js) on frame sequences written by tests/test_web.py and prints each
// frame's step as JSON, for comparison with signcaps.signs.spelling.Speller on the same frames.
//   node test/spelling.mjs cases.json > results.json
// A case: {cfg, window_s, frames: [{t, hand, landmarks, label, best, resting, moving, letter, edit}]}; the spotter is scripted
// (moving, and the drawn letter of a frame), as the Python side's is.
import { readFileSync } from "node:fs";
import { Speller } from "../src/spelling.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = cases.map((c) => {
  let frame = null;
  const spotter = { cfg: { window_s: c.window_s }, update: () => frame.letter, moving: () => frame.moving, reset: () => {} };
  let speller;
  try {
    speller = new Speller(c.cfg, spotter);
  } catch (err) {
    return { error: err.message };
  }
  const steps = c.frames.map((f) => {
    frame = f;
    const step = speller.update(f.t, f.hand ? f.landmarks : null, f.label, f.best, f.resting);
    if (f.edit === "delete") speller.delete();
    if (f.edit === "clear") speller.clear();
    return step;
  });
  return { steps, flush: speller.flush() };
});
process.stdout.write(JSON.stringify(results));
