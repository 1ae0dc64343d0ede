// The page's copy of signcaps/signs/strokes.py (the "template" and "dtw" judges; the page runs motion.js's
// default, dtw): is a fingertip path a drawn J or Z? The path is resampled by arc length, centred on its
// bounding box and scaled so its longer side is 1, then compared with the letter's template in the thumb
// side's orientation. tests/test_web.py checks the distances against the Python functions on random paths.

export const SAMPLES = 32;
export const LETTERS = ["J", "Z"];
export const METHODS = ["template", "dtw"];

/** numpy.linspace(start, stop, n). */
function linspace(start, stop, n) {
  const step = (stop - start) / (n - 1);
  const out = Array.from({ length: n }, (_, i) => i * step + start);
  if (n > 1) out[n - 1] = stop;
  return out;
}

/** numpy.interp(x, xp, fp) for increasing xp and x within [xp[0], xp[-1]]. */
function interp(x, xp, fp) {
  const last = xp.length - 1;
  if (x >= xp[last]) return fp[last];
  if (x <= xp[0]) return fp[0];
  let lo = 0, hi = last; // the largest j with xp[j] <= x
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xp[mid] <= x) lo = mid; else hi = mid;
  }
  if (xp[lo] === x) return fp[lo];
  const slope = (fp[lo + 1] - fp[lo]) / (xp[lo + 1] - xp[lo]);
  return slope * (x - xp[lo]) + fp[lo];
}

/** numpy's pairwise sum of float64 values (what np.mean and np.sum use on a contiguous array). */
export function pairwiseSum(values, start = 0, n = values.length) {
  if (n < 8) {
    let s = 0; // numpy starts from -0.0, which only differs for an all -0.0 sum
    for (let i = 0; i < n; i++) s += values[start + i];
    return s;
  }
  if (n <= 128) {
    const r = values.slice(start, start + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let k = 0; k < 8; k++) r[k] += values[start + i + k];
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += values[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(values, start, n2) + pairwiseSum(values, start + n2, n - n2);
}

/** resample: n points equally spaced along the polyline (a path of no length repeats its start). */
export function resample(points, n = SAMPLES) {
  const along = [0];
  for (let i = 1; i < points.length; i++) {
    const dx = points[i][0] - points[i - 1][0], dy = points[i][1] - points[i - 1][1];
    along.push(along[i - 1] + Math.sqrt(dx * dx + dy * dy));
  }
  const total = along[along.length - 1];
  if (total <= 0) return Array.from({ length: n }, () => [points[0][0], points[0][1]]);
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  return linspace(0, total, n).map((at) => [interp(at, along, xs), interp(at, along, ys)]);
}

/** normalise: resampled, centred on its bounding box, its longer side scaled to 1. */
export function normalise(points, n = SAMPLES) {
  const path = resample(points, n);
  const low = [Math.min(...path.map((p) => p[0])), Math.min(...path.map((p) => p[1]))];
  const high = [Math.max(...path.map((p) => p[0])), Math.max(...path.map((p) => p[1]))];
  const side = Math.max(high[0] - low[0], high[1] - low[1]);
  const centre = [(low[0] + high[0]) / 2, (low[1] + high[1]) / 2];
  return path.map((p) => [(p[0] - centre[0]) / (side > 0 ? side : 1), (p[1] - centre[1]) / (side > 0 ? side : 1)]);
}

function templatePoints(letter) {
  if (letter === "Z") return [[0, 0], [1, 0], [0, 1], [1, 1]];
  const stem = linspace(0, 0.6, 20).map((y) => [0, y]);
  const hook = linspace(0, Math.PI, 40).slice(1).map((a) => [0.25 - 0.25 * Math.cos(a), 0.6 + 0.25 * Math.sin(a)]);
  return [...stem, ...hook];
}

export const TEMPLATES = Object.fromEntries(LETTERS.map((letter) => [letter, normalise(templatePoints(letter))]));

/** The x signs to try: the thumb side's when it is clear, both when the hand is seen edge-on. */
export const orientations = (thumb) => (thumb > 0 ? [1] : thumb < 0 ? [-1] : [1, -1]);

const dist = (a, b) => { const dx = a[0] - b[0], dy = a[1] - b[1]; return Math.sqrt(dx * dx + dy * dy); };

export function templateDistance(path, letter, thumb = 0) {
  const own = normalise(path), template = TEMPLATES[letter];
  return Math.min(...orientations(thumb).map((s) =>
    pairwiseSum(own.map((p, i) => dist([p[0] * s, p[1]], template[i]))) / own.length));
}

function dtw(a, b) {
  const n = a.length, m = b.length;
  const total = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(Infinity));
  const steps = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  total[0][0] = 0;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const options = [total[i - 1][j - 1], total[i - 1][j], total[i][j - 1]];
      let k = 0; // numpy.argmin: the first of equal minima
      if (options[1] < options[k]) k = 1;
      if (options[2] < options[k]) k = 2;
      const prev = [[i - 1, j - 1], [i - 1, j], [i, j - 1]][k];
      total[i][j] = dist(a[i - 1], b[j - 1]) + options[k];
      steps[i][j] = steps[prev[0]][prev[1]] + 1;
    }
  }
  return total[n][m] / steps[n][m];
}

export function dtwDistance(path, letter, thumb = 0) {
  const own = normalise(path);
  return Math.min(...orientations(thumb).map((s) => dtw(own.map((p) => [p[0] * s, p[1]]), TEMPLATES[letter])));
}

/** Does the path draw the letter? threshold: the largest distance accepted. */
export function judge(path, letter, thumb, method, threshold) {
  if (!METHODS.includes(method)) throw new Error(`the page judges strokes by ${METHODS.join(" or ")}, not ${method}`);
  return (method === "dtw" ? dtwDistance : templateDistance)(path, letter, thumb) <= threshold;
}
