// The live overlay of signcaps/overlay.py on a 2-D canvas: hand box and skeleton, the answer (the
// sign, "?" in orange below the threshold, "none" in red when the rejection rule says no sign), one
// panel per hand slot with the capsule-length bars (the winning sign highlighted, the threshold and
// the rule's none_below as lines), FPS in the top-right corner. Same layout and colours, scaled with
// the frame height.

export const HAND_CONNECTIONS = [
  [0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11],
  [11, 12], [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [0, 17], [17, 18], [18, 19], [19, 20],
];
// overlay.py's BGR colours written as CSS rgb
const SLOT_COLOURS = ["rgb(255,200,80)", "rgb(80,160,255)", "rgb(120,255,120)", "rgb(255,120,200)"];
const WIN = "rgb(60,220,60)";
const BAR = "rgb(170,170,170)";
const UNSURE = "rgb(255,190,0)";
const NONE = "rgb(235,70,70)";
const TEXT = "rgb(255,255,255)";
const FONT_PX = 30; // OpenCV's Hershey simplex at size 1.0 is about this tall in CSS pixels

const scaleFor = (height) => Math.min(Math.max(height / 480, 0.35), 4.0);

function text(ctx, value, x, y, size, colour = TEXT, bold = false) {
  ctx.font = `${bold ? "bold " : ""}${Math.round(size * FONT_PX)}px sans-serif`;
  const shift = Math.max(1, Math.round(size * 2));
  ctx.fillStyle = "rgb(0,0,0)";
  ctx.fillText(value, x + shift, y + shift);
  ctx.fillStyle = colour;
  ctx.fillText(value, x, y);
}

/** What to write for a hand and its colour (null: the slot's): the sign, "?" or "none" (overlay.answer_text). */
function answer(view) {
  const status = view.status ?? (view.label !== null ? "ok" : "uncertain");
  if (status === "none") return ["none", NONE];
  if (status === "uncertain" || view.label === null) return ["?", UNSURE];
  return [view.label, null];
}

function panelSize(height, classes) {
  const s = scaleFor(height);
  const row = Math.max(8, Math.round(18 * s));
  return [Math.round(150 * s), Math.round(44 * s) + classes * row + Math.round(6 * s)];
}

/** Box, skeleton and the digit next to the hand. view: {slot, landmarks [[x, y]], box, label}. */
function drawHand(ctx, view, height, width) {
  const s = scaleFor(height);
  const colour = SLOT_COLOURS[view.slot % SLOT_COLOURS.length];
  const { x0, y0, side } = view.box;
  ctx.lineWidth = Math.max(1, Math.round(2 * s));
  ctx.strokeStyle = colour;
  ctx.strokeRect(x0, y0, side, side);
  ctx.beginPath();
  for (const [a, b] of HAND_CONNECTIONS) {
    ctx.moveTo(view.landmarks[a][0], view.landmarks[a][1]);
    ctx.lineTo(view.landmarks[b][0], view.landmarks[b][1]);
  }
  ctx.stroke();
  ctx.fillStyle = TEXT;
  const radius = Math.max(2, Math.round(3 * s));
  for (const [x, y] of view.landmarks) {
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.fill();
  }
  const [label, shown] = answer(view);
  const size = (label === "none" ? 1.0 : 1.6) * s;
  ctx.font = `bold ${Math.round(size * FONT_PX)}px sans-serif`;
  const tw = ctx.measureText(label).width, th = size * FONT_PX * 0.75;
  const tx = Math.min(Math.max(x0, 0), Math.max(width - tw, 0));
  const ty = y0 - th - 6 * s > 0 ? y0 - 6 * s : Math.min(y0 + side + th + 6 * s, height - 2);
  text(ctx, label, tx, ty, size, shown || colour, true);
}

/** The big answer and one labelled bar per class capsule at (x, y). */
function drawPanel(ctx, view, classes, threshold, x, y, height, noneBelow = 0) {
  const s = scaleFor(height);
  const [width, panelHeight] = panelSize(height, classes.length);
  ctx.fillStyle = "rgba(0,0,0,0.65)";
  ctx.fillRect(x, y, width, panelHeight);
  const pad = Math.round(6 * s), header = Math.round(40 * s);
  const colour = SLOT_COLOURS[view.slot % SLOT_COLOURS.length];
  let lengths = new Array(classes.length).fill(0), best = -1;
  if (!view.lengths) {
    text(ctx, "no hand", x + pad, y + header * 0.7, 0.7 * s, TEXT, true);
  } else {
    lengths = Array.from(view.lengths, (v) => Math.min(Math.max(v, 0), 1));
    best = view.best ?? lengths.indexOf(Math.max(...lengths));
    const [big, shown] = answer(view);
    text(ctx, big, x + pad, y + header - 4 * s, (big === "none" ? 0.7 : 1.3) * s, shown || colour, true);
    text(ctx, lengths[best].toFixed(2), x + Math.round(60 * s), y + header * 0.55, 0.5 * s);
    if (view.handedness) text(ctx, view.handedness[0], x + Math.round(60 * s), y + header - 4 * s, 0.45 * s, colour);
  }
  const row = Math.max(8, Math.round(18 * s)), labelW = Math.round(26 * s);
  const barX = x + pad + labelW, barW = width - 2 * pad - labelW;
  classes.forEach((name, i) => {
    const top = y + header + i * row;
    text(ctx, name.slice(0, 3), x + pad, top + row - 4 * s, 0.45 * s);
    ctx.strokeStyle = "rgb(70,70,70)";
    ctx.lineWidth = 1;
    ctx.strokeRect(barX, top + 2, barW, row - 5);
    const length = Math.round(lengths[i] * barW);
    if (length > 0) {
      ctx.fillStyle = i === best ? (answer(view)[1] || WIN) : BAR;
      ctx.fillRect(barX, top + 2, length, row - 5);
    }
  });
  const marks = [[threshold, UNSURE], ...(noneBelow > 0 ? [[noneBelow, NONE]] : [])];
  for (const [value, colour] of marks) {
    const tx = barX + Math.round(value * barW);
    ctx.strokeStyle = colour;
    ctx.beginPath();
    ctx.moveTo(tx, y + header);
    ctx.lineTo(tx, y + header + classes.length * row);
    ctx.stroke();
  }
}

/** Everything for one frame on `ctx` (already holding the camera image); `slots` panels always drawn. */
export function drawFrame(ctx, views, classes, threshold, slots, fps, noneBelow = 0) {
  const { width, height } = ctx.canvas;
  const s = scaleFor(height);
  const [panelW, panelH] = panelSize(height, classes.length);
  const margin = Math.round(8 * s), topRight = Math.round(34 * s);
  ctx.textBaseline = "alphabetic";
  for (let slot = 0; slot < slots; slot++) {
    const view = views.find((v) => v.slot === slot) || { slot, lengths: null, label: null };
    let x = margin, y = margin;
    if (slot % 2 === 1) { x = width - panelW - margin; y = topRight; }
    if (slot >= 2) y += panelH + margin;
    drawPanel(ctx, view, classes, threshold, x, y, height, noneBelow);
  }
  for (const view of views) drawHand(ctx, view, height, width);
  if (fps !== null) {
    const label = `${fps.toFixed(1).padStart(5)} fps`;
    ctx.font = `${Math.round(0.6 * s * FONT_PX)}px sans-serif`;
    const tw = ctx.measureText(label).width;
    text(ctx, label, width - tw - 8 * s, 0.6 * s * FONT_PX * 0.75 + 8 * s, 0.6 * s);
  }
}
