// Runs the page's motion spotter (src/motion.js) and stroke judges (src/strokes.js) on cases written by
// tests/test_web.py and prints the results as JSON, for comparison with signcaps.signs.motion and strokes.
//   node test/motion.mjs cases.json > results.json
// cases: {tracks: [{cfg, frames: [{t, landmarks | null, label, best}]}], paths: [{points, letter, thumb}]}
import { readFileSync } from "node:fs";
import { MotionSpotter } from "../src/motion.js";
import { dtwDistance, templateDistance } from "../src/strokes.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const tracks = cases.tracks.map((c) => {
  const spotter = new MotionSpotter(c.cfg);
  return c.frames.map((f) => {
    const letter = spotter.update(f.t, f.landmarks, f.label, f.best);
    return { letter, moving: spotter.moving(), speed: spotter.speed };
  });
});
const paths = cases.paths.map((p) => ({ template: templateDistance(p.points, p.letter, p.thumb),
                                        dtw: dtwDistance(p.points, p.letter, p.thumb) }));
process.stdout.write(JSON.stringify({ tracks, paths }));
