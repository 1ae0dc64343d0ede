// Runs the page's J and Z spotter (src/motion.js) in node on tracks written by tests/test_motion_web.py
// and prints, per track, the letter (or null) and moving() of every frame, and the template distances
// and end turns of the given paths, as JSON for comparison with signcaps.signs.motion and signcaps.signs.strokes.
//   node test/motion_parity.mjs cases.json > results.json
import { readFileSync } from "node:fs";
import { MotionSpotter, endTurn, motionConfig, templateDistance } from "../src/motion.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const result = { tracks: [], distances: [], turns: [], configs: [] };
for (const track of cases.tracks) {
  const spotter = new MotionSpotter(track.cfg ?? {});
  const letters = [], moving = [];
  for (const f of track.frames) {
    letters.push(spotter.update(f.t, f.landmarks, f.label, f.best));
    moving.push(spotter.moving());
  }
  result.tracks.push({ letters, moving });
}
for (const d of cases.distances) {
  result.distances.push(templateDistance(d.path, d.letter, d.thumb));
  result.turns.push(endTurn(d.path));
}
for (const cfg of cases.configs) {
  try { motionConfig(cfg); result.configs.push(null); } catch (err) { result.configs.push(err.message); }
}
process.stdout.write(JSON.stringify(result));
