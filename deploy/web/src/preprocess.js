// The page's copy of signcaps/preprocess.py: square box -> crop with replicated border -> resize
// -> mirror -> grey -> (x/255 - mean)/std. It is a second implementation of the one Python path,
// so it reproduces OpenCV's integer and float32 arithmetic step by step (cv2.resize INTER_AREA /
// INTER_LINEAR on uint8, cv2.cvtColor RGB2GRAY, numpy float32 rounding); tests/test_web.py runs it
// in node on real dataset images and compares it with signcaps.hands.preprocess.
//
// Images are {data: Uint8Array|Uint8ClampedArray, width, height, channels} (row-major, interleaved);
// a frame may be RGBA (channels 4, a canvas ImageData): crops are always RGB.

const f32 = Math.fround;

/** Round half to even, as Python's round(), numpy's rint and OpenCV's cvRound do. */
export function rint(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** preprocess.square_box: landmarks [[x, y], ...] in frame pixels (float32, as numpy holds them). */
export function squareBox(landmarksXY, margin) {
  let lox = Infinity, loy = Infinity, hix = -Infinity, hiy = -Infinity;
  for (const [px, py] of landmarksXY) {
    const x = f32(px), y = f32(py);
    lox = Math.min(lox, x); loy = Math.min(loy, y); hix = Math.max(hix, x); hiy = Math.max(hiy, y);
  }
  const cx = f32(f32(lox + hix) / 2), cy = f32(f32(loy + hiy) / 2);
  let side = Math.max(f32(hix - lox), f32(hiy - loy)) * (1 + 2 * margin);
  side = Math.max(side, 8.0);
  const half = f32(side / 2);
  return { x0: rint(f32(cx - half)), y0: rint(f32(cy - half)), side: rint(side) };
}

/** preprocess.centre_box: the largest centred square (whole-image fallback). */
export function centreBox(width, height) {
  const side = Math.min(width, height);
  return { x0: Math.floor((width - side) / 2), y0: Math.floor((height - side) / 2), side };
}

/** The box's square cut out of the image as RGB (an RGBA canvas frame is read in place, its alpha
 * dropped), reads clamped to the frame, the part outside filled by the replicated border. */
function cutReplicated(image, box) {
  const { data, width, height, channels: stride } = image;
  const cn = Math.min(stride, 3);
  const side = box.side;
  const cx0 = Math.max(box.x0, 0), cy0 = Math.max(box.y0, 0);
  const cx1 = Math.min(box.x0 + side, width), cy1 = Math.min(box.y0 + side, height);
  if (cx1 <= cx0 || cy1 <= cy0) throw new Error("crop box lies outside the frame");
  const out = new Uint8Array(side * side * cn);
  for (let y = 0; y < side; y++) {
    const sy = Math.min(Math.max(box.y0 + y, cy0), cy1 - 1);
    for (let x = 0; x < side; x++) {
      const sx = Math.min(Math.max(box.x0 + x, cx0), cx1 - 1);
      const s = (sy * width + sx) * stride, d = (y * side + x) * cn;
      for (let c = 0; c < cn; c++) out[d + c] = data[s + c];
    }
  }
  return { data: out, width: side, height: side, channels: cn };
}

/** preprocess.crop_square: INTER_AREA when shrinking, INTER_LINEAR otherwise (as cv2.resize). */
export function cropSquare(image, box, size) {
  const patch = cutReplicated(image, box);
  if (box.side === size) return patch; // cv2.resize copies when the size is unchanged
  return box.side > size ? resizeArea(patch, size, size) : resizeLinear(patch, size, size);
}

function satU8(v) {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// ----------------------------------------------------------------------------- INTER_AREA

/** cv2.resize(..., INTER_AREA) of a uint8 image to a smaller size. */
export function resizeArea(image, dw, dh) {
  const sx = 1 / (dw / image.width), sy = 1 / (dh / image.height); // OpenCV: 1 / inv_scale
  const ix = Math.trunc(sx), iy = Math.trunc(sy);
  const fast = Math.abs(sx - ix) < Number.EPSILON && Math.abs(sy - iy) < Number.EPSILON;
  return fast ? resizeAreaFast(image, dw, dh, ix, iy) : resizeAreaGeneric(image, dw, dh, sx, sy);
}

/** Integer scale: a box average; 2x2 rounds (sum + 2) >> 2, others cvRound(sum * (1/area)). */
function resizeAreaFast(image, dw, dh, kx, ky) {
  const { data, width, channels: cn } = image;
  const out = new Uint8Array(dw * dh * cn);
  const scale = f32(1 / (kx * ky));
  for (let dy = 0; dy < dh; dy++) {
    for (let dx = 0; dx < dw; dx++) {
      for (let c = 0; c < cn; c++) {
        let sum = 0;
        for (let y = 0; y < ky; y++) {
          const row = (dy * ky + y) * width;
          for (let x = 0; x < kx; x++) sum += data[(row + dx * kx + x) * cn + c];
        }
        out[(dy * dw + dx) * cn + c] = kx === 2 && ky === 2 ? (sum + 2) >> 2 : satU8(rint(f32(sum * scale)));
      }
    }
  }
  return { data: out, width: dw, height: dh, channels: cn };
}

/** OpenCV's computeResizeAreaTab: (destination, source, float32 weight) triples along one axis. */
function areaTable(ssize, dsize, scale) {
  const tab = [];
  for (let d = 0; d < dsize; d++) {
    const fs1 = d * scale, fs2 = fs1 + scale;
    const cell = Math.min(scale, ssize - fs1);
    let s2 = Math.floor(fs2);
    let s1 = Math.ceil(fs1);
    s2 = Math.min(s2, ssize - 1);
    s1 = Math.min(s1, s2);
    if (s1 - fs1 > 1e-3) tab.push([d, s1 - 1, f32((s1 - fs1) / cell)]);
    for (let s = s1; s < s2; s++) tab.push([d, s, f32(1 / cell)]);
    if (fs2 - s2 > 1e-3) tab.push([d, s2, f32(Math.min(Math.min(fs2 - s2, 1), cell) / cell)]);
  }
  return tab;
}

/** Non-integer scale: OpenCV's ResizeArea_Invoker, accumulating in float32. */
function resizeAreaGeneric(image, dw, dh, sx, sy) {
  const { data, width, height, channels: cn } = image;
  const xtab = areaTable(width, dw, sx), ytab = areaTable(height, dh, sy);
  const n = dw * cn;
  const out = new Uint8Array(dw * dh * cn);
  const buf = new Float32Array(n), sum = new Float32Array(n);
  let prev = ytab[0][0];
  for (const [dy, srcY, beta] of ytab) {
    buf.fill(0);
    const row = srcY * width * cn;
    for (const [dxi, srcX, alpha] of xtab) {
      for (let c = 0; c < cn; c++) {
        const di = dxi * cn + c;
        buf[di] = f32(buf[di] + f32(data[row + srcX * cn + c] * alpha));
      }
    }
    if (dy !== prev) {
      for (let i = 0; i < n; i++) {
        out[prev * n + i] = satU8(rint(sum[i]));
        sum[i] = f32(beta * buf[i]);
      }
      prev = dy;
    } else {
      for (let i = 0; i < n; i++) sum[i] = f32(sum[i] + f32(beta * buf[i]));
    }
  }
  for (let i = 0; i < n; i++) out[prev * n + i] = satU8(rint(sum[i]));
  return { data: out, width: dw, height: dh, channels: cn };
}

// ----------------------------------------------------------------------------- INTER_LINEAR

/** OpenCV's fixed-point bilinear taps along one axis: source index and 11-bit weights. */
function linearTaps(ssize, dsize) {
  const scale = 1 / (dsize / ssize);
  const taps = [];
  for (let d = 0; d < dsize; d++) {
    let f = f32((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = f32(f - s);
    if (s < 0) { f = 0; s = 0; }
    if (s >= ssize - 1) { f = 0; s = ssize - 1; }
    const w0 = rint(f32(f32(1 - f) * 2048)), w1 = rint(f32(f * 2048));
    taps.push([s, Math.min(s + 1, ssize - 1), w0, w1]);
  }
  return taps;
}

/** cv2.resize(..., INTER_LINEAR) of a uint8 image: integer horizontal pass, then OpenCV's SIMD
 * vertical pass ((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2. Only used for
 * hands smaller than the model input (a crop side <= 32 px); measured against cv2 5.1 it matches
 * 99% of pixels and is off by one grey level on some pixels of the first and last rows. */
export function resizeLinear(image, dw, dh) {
  const { data, width, height, channels: cn } = image;
  const xt = linearTaps(width, dw), yt = linearTaps(height, dh);
  const n = dw * cn;
  const rows = new Map();
  const hrow = (sy) => {
    if (!rows.has(sy)) {
      const r = new Int32Array(n);
      const base = sy * width * cn;
      for (let dx = 0; dx < dw; dx++) {
        const [s0, s1, a0, a1] = xt[dx];
        for (let c = 0; c < cn; c++) r[dx * cn + c] = data[base + s0 * cn + c] * a0 + data[base + s1 * cn + c] * a1;
      }
      rows.set(sy, r);
    }
    return rows.get(sy);
  };
  const out = new Uint8Array(dw * dh * cn);
  for (let dy = 0; dy < dh; dy++) {
    const [s0, s1, b0, b1] = yt[dy];
    const r0 = hrow(s0), r1 = hrow(s1);
    for (let i = 0; i < n; i++) {
      const v = (Math.floor(((r0[i] >> 4) * b0) / 65536) + Math.floor(((r1[i] >> 4) * b1) / 65536) + 2) >> 2;
      out[dy * n + i] = satU8(v);
    }
  }
  return { data: out, width: dw, height: dh, channels: cn };
}

// ----------------------------------------------------------------------------- crop -> tensor

/** Flip left-right (preprocess.crop_hand with mirror_left on a left hand). */
export function mirror(image) {
  const { data, width, height, channels: cn } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * cn, d = (y * width + (width - 1 - x)) * cn;
      for (let c = 0; c < cn; c++) out[d + c] = data[s + c];
    }
  }
  return { data: out, width, height, channels: cn };
}

/** preprocess.crop_hand: the RGB uint8 crop of one hand (centre square when landmarks is null). */
export function cropHand(imageRGB, landmarksXY, isLeft, cfg) {
  const box = landmarksXY ? squareBox(landmarksXY, cfg.margin) : centreBox(imageRGB.width, imageRGB.height);
  let crop = cropSquare(imageRGB, box, cfg.input_size);
  if (cfg.mirror_left && isLeft) crop = mirror(crop);
  return { crop, box };
}

/** cv2.cvtColor(RGB2GRAY) on uint8: 14-bit fixed point, rounded. */
export function grey(r, g, b) {
  return (r * 4899 + g * 9617 + b * 1868 + 8192) >> 14;
}

/** preprocess.to_tensor: RGB uint8 crop -> float32 C x H x W, (x / 255 - mean) / std in float32. */
export function toTensor(crop, cfg, out = null, offset = 0) {
  const size = crop.width * crop.height;
  const channels = cfg.channels;
  const target = out || new Float32Array(channels * size);
  const mean = f32(cfg.mean), std = f32(cfg.std);
  const norm = (v) => f32(f32(f32(v / 255) - mean) / std);
  const { data } = crop;
  for (let i = 0; i < size; i++) {
    const r = data[i * 3], g = data[i * 3 + 1], b = data[i * 3 + 2];
    if (channels === 1) {
      target[offset + i] = norm(grey(r, g, b));
    } else {
      target[offset + i] = norm(r);
      target[offset + size + i] = norm(g);
      target[offset + 2 * size + i] = norm(b);
    }
  }
  return target;
}

