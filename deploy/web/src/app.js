// signcaps in the browser: camera -> MediaPipe HandLandmarker (VIDEO mode, WASM, CPU) -> the model's
// inputs as its ONNX metadata describes them (hand crop and/or normalised pose) -> onnxruntime-web
// (WASM) -> capsule lengths (and the winner's decoded skeleton when the model's rejection rule compares
// it with the observed one) -> the rule's answer per hand: the sign, "?" or "none" -> the overlay of
// `signcaps live`. Every file is served by the site itself; no frame and no result leaves the device.
//
// URL parameters: model=PATH (default models/model.onnx), hands=1..4, threshold (default: the model's
// rejection rule, 0.6 without one), smoothing=0.5, test=1 (decode the frame number the test clip
// carries and keep a per-frame record in window.signcaps.records for tests/test_web.py).

import { FilesetResolver, HandLandmarker } from "../vendor/mediapipe/vision_bundle.mjs";
import * as ort from "../vendor/onnxruntime-web/ort.wasm.min.mjs";
import { signcapsMetadata } from "./onnxmeta.js";
import { drawFrame } from "./overlay.js";
import { normalizePose, pixelPoints } from "./pose.js";
import { cropHand, toTensor } from "./preprocess.js";
import { decide, describeRule, frameState, poseError, withAccept } from "./rejection.js";
import { MotionSpotter } from "./motion.js";
import { Speller } from "./spelling.js";

const params = new URLSearchParams(location.search);
const config = {
  model: params.get("model") || "models/model.onnx",
  handModel: params.get("hand_model") || "models/hand_landmarker.task",
  hands: Math.min(Math.max(parseInt(params.get("hands") || "1", 10), 1), 4),
  threshold: params.has("threshold") ? parseFloat(params.get("threshold")) : null, // null: the model's rule
  smoothing: parseFloat(params.get("smoothing") || "0.5"),
  keepFrames: 5,
  test: params.get("test") === "1",
};
// Frame numbers of the test clip: FRAME_BITS black/white blocks of FRAME_BLOCK px along the bottom-left edge.
const FRAME_BITS = 12, FRAME_BLOCK = 16;

const state = (window.signcaps = { state: "loading", error: null, meta: null, records: [], frames: 0, fps: null, size: null, paused: false, config });
const statusLine = document.getElementById("status");
const setStatus = (text) => { statusLine.textContent = text; };

function fail(err) {
  state.state = "error";
  state.error = String(err && err.message ? err.message : err);
  setStatus(`error: ${state.error}`);
  console.error(err);
}

/** Per-hand temporal smoothing (live.HandSlots): a detection continues the slot whose last centre
 * lies within one hand size, else takes a free slot; lengths are an exponential moving average. */
class HandSlots {
  constructor(count, alpha, keepFrames) {
    this.slots = new Array(count).fill(null);
    this.alpha = alpha;
    this.keepFrames = keepFrames;
  }

  update(hands, raw) {
    const used = new Set(), assigned = [];
    hands.forEach((hand, d) => {
      let best = -1, bestCost = 1.0;
      this.slots.forEach((slot, s) => {
        if (!slot || used.has(s)) return;
        const cost = Math.hypot(hand.centre[0] - slot.centre[0], hand.centre[1] - slot.centre[1]) / Math.max(slot.size, hand.size)
          + (hand.handedness !== slot.handedness ? 0.5 : 0);
        if (cost <= bestCost) { best = s; bestCost = cost; }
      });
      if (best < 0) best = this.slots.findIndex((slot, s) => !used.has(s) && slot === null);
      if (best < 0) best = this.slots.findIndex((_, s) => !used.has(s));
      if (best < 0) { assigned.push(null); return; }
      used.add(best);
      const previous = this.slots[best];
      const lengths = previous && previous.lengths.length === raw[d].length
        ? raw[d].map((v, k) => this.alpha * v + (1 - this.alpha) * previous.lengths[k]) : Array.from(raw[d]);
      this.slots[best] = { centre: hand.centre, size: hand.size, handedness: hand.handedness, lengths, missed: 0 };
      assigned.push([best, lengths]);
    });
    this.slots.forEach((slot, s) => {
      if (slot && !used.has(s) && ++slot.missed > this.keepFrames) this.slots[s] = null;
    });
    return assigned;
  }
}

/** The frame number drawn into the test clip (bit k: the block at x = k * FRAME_BLOCK, bottom row). */
function frameNumber(rgba, width, height) {
  let value = 0;
  const y = height - FRAME_BLOCK / 2;
  for (let k = 0; k < FRAME_BITS; k++) {
    const i = (y * width + k * FRAME_BLOCK + FRAME_BLOCK / 2) * 4;
    if (rgba[i] + rgba[i + 1] + rgba[i + 2] > 3 * 128) value |= 1 << k;
  }
  return value;
}

async function loadModel() {
  setStatus("loading the model …");
  const response = await fetch(config.model);
  if (!response.ok) throw new Error(`cannot load ${config.model}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const meta = signcapsMetadata(bytes);
  ort.env.wasm.wasmPaths = new URL("vendor/onnxruntime-web/", location.href).href;
  ort.env.wasm.numThreads = 1; // as the Python runtime: one thread gives the lowest batch-1 latency
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  for (const name of Object.values(meta.inputs)) {
    if (!session.inputNames.includes(name)) throw new Error(`the model has no input '${name}' (its metadata lists it)`);
  }
  if (!session.outputNames.includes("lengths")) throw new Error("the model has no 'lengths' output");
  const rule = withAccept(meta.rule, config.threshold);
  // the outputs the rule needs: the pose decoder only when it compares the decoded skeleton
  const outputs = rule.max_pose_error !== null ? ["lengths", "pose_reconstruction"] : ["lengths"];
  for (const name of outputs) {
    if (!session.outputNames.includes(name)) throw new Error(`the model's rejection rule needs its '${name}' output`);
  }
  if (rule.max_pose_error !== null && !meta.inputs.pose) throw new Error("the rejection rule compares the pose, but the model reads none");
  return { meta, session, rule, outputs };
}

async function loadHands(meta) {
  setStatus("loading the hand landmarker …");
  const fileset = await FilesetResolver.forVisionTasks(new URL("vendor/mediapipe/wasm", location.href).href);
  const detect = meta.detect || {};
  return HandLandmarker.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: config.handModel, delegate: "CPU" },
    runningMode: "VIDEO",
    numHands: config.hands,
    minHandDetectionConfidence: detect.min_detection_confidence ?? 0.5,
    minHandPresenceConfidence: detect.min_presence_confidence ?? 0.5,
    minTrackingConfidence: detect.min_tracking_confidence ?? 0.5,
  });
}

/** The model inputs for the detected hands, exactly as the metadata asks for them. */
function modelFeeds(meta, hands) {
  const n = hands.length, feeds = {};
  if (meta.inputs.image) {
    const size = meta.input_size, per = meta.channels * size * size;
    const data = new Float32Array(n * per);
    hands.forEach((hand, i) => toTensor(hand.crop, meta, data, i * per));
    feeds[meta.inputs.image] = new ort.Tensor("float32", data, [n, meta.channels, size, size]);
  }
  if (meta.inputs.pose) {
    const joints = meta.pose.joints ?? 21;
    const data = new Float32Array(n * joints * 3);
    hands.forEach((hand, i) => normalizePose(hand.points, hand.isLeft, meta.pose, data, i * joints * 3));
    feeds[meta.inputs.pose] = new ort.Tensor("float32", data, [n, joints, 3]);
  }
  return feeds;
}

async function run() {
  const { meta, session, rule, outputs } = await loadModel();
  state.meta = meta;
  state.rule = rule;
  const landmarker = await loadHands(meta);
  setStatus("opening the camera …");
  const video = document.getElementById("video");
  if (!navigator.mediaDevices) throw new Error("no camera access here: open the page from localhost or over HTTPS");
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    throw new Error(`cannot open the camera (${err.name}): allow this page to use it, or connect one`);
  }
  await video.play();
  const view = document.getElementById("view");
  const frameCanvas = document.createElement("canvas");
  const frameCtx = frameCanvas.getContext("2d", { willReadFrequently: true });
  const viewCtx = view.getContext("2d");
  const slots = new HandSlots(config.hands, config.smoothing, config.keepFrames);
  const classes = meta.classes.map(String);
  // a letters model spells (signcaps/signs/spelling.py's rules, J and Z from motion.py's): the text shows under the view
  const letters = classes.filter((c) => c !== "none");
  const spells = letters.length > 0 && letters.every((c) => c.length === 1 && /[A-Za-z]/.test(c));
  const speller = spells ? new Speller({}, new MotionSpotter()) : null;
  const textLine = document.getElementById("text");
  if (speller) {
    textLine.hidden = false;
    document.addEventListener("keydown", (event) => { // the live window's keys: Backspace deletes, c clears
      if (event.key === "Backspace") speller.delete();
      else if (event.key === "c") speller.clear();
      else return;
      textLine.textContent = speller.text + "_";
      event.preventDefault();
    });
  }
  const cropCfg = { ...meta, mirror_left: Boolean(meta.mirror_left) };
  let lastTick = null, lastTs = -1;
  state.state = "running";
  setStatus(`${meta.model} · ${classes.length} classes · inputs: ${Object.keys(meta.inputs).join(" + ")} · ${describeRule(rule)} · everything runs on this device`);

  const step = async () => {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) return;
    if (frameCanvas.width !== w || frameCanvas.height !== h) {
      frameCanvas.width = view.width = w;
      frameCanvas.height = view.height = h;
      state.size = [w, h];
    }
    const ms = {};
    let t0 = performance.now();
    frameCtx.drawImage(video, 0, 0, w, h);
    const pixels = frameCtx.getImageData(0, 0, w, h);
    const ts = Math.max(Math.round(performance.now()), lastTs + 1);
    lastTs = ts;
    const result = landmarker.detectForVideo(frameCanvas, ts);
    ms.detect = performance.now() - t0;
    t0 = performance.now();
    const frame = meta.inputs.image ? { data: pixels.data, width: w, height: h, channels: 4 } : null; // pose-only: no crop
    const hands = result.landmarks.map((marks, i) => {
      const category = result.handedness[i][0];
      const points = pixelPoints(marks, w, h);
      const xy = points.map(([x, y]) => [x, y]);
      const xs = xy.map((p) => p[0]), ys = xy.map((p) => p[1]);
      const hand = {
        points, xy, handedness: category.categoryName, score: category.score, isLeft: category.categoryName === "Left",
        centre: [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2],
        size: Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)) || 1,
      };
      const cut = frame ? cropHand(frame, xy, hand.isLeft, cropCfg) : null;
      hand.crop = cut && cut.crop;
      hand.box = cut ? cut.box : null;
      return hand;
    }).sort((a, b) => b.score - a.score);
    ms.crop = performance.now() - t0;
    t0 = performance.now();
    let raw = [];
    const k = classes.length;
    if (hands.length) {
      const feeds = modelFeeds(meta, hands);
      const out = await session.run(feeds, outputs);
      const data = out.lengths.data;
      raw = hands.map((_, i) => Array.from(data.subarray(i * k, (i + 1) * k)));
      if (rule.max_pose_error !== null) { // the winner's pose error rides along as the last column: smoothed with the lengths
        const per = (meta.pose.joints ?? 21) * 3, decoded = out.pose_reconstruction.data, observed = feeds[meta.inputs.pose].data;
        raw.forEach((row, i) => row.push(poseError(decoded.subarray(i * per, (i + 1) * per), observed.subarray(i * per, (i + 1) * per), per / 3)));
      }
    }
    ms.classify = performance.now() - t0;
    const assigned = slots.update(hands, raw);
    const now = performance.now();
    if (lastTick !== null) {
      const instant = 1000 / Math.max(now - lastTick, 1e-3);
      state.fps = state.fps === null ? instant : 0.9 * state.fps + 0.1 * instant;
    }
    lastTick = now;
    t0 = performance.now();
    viewCtx.drawImage(frameCanvas, 0, 0);
    const views = [], decisions = [];
    hands.forEach((hand, i) => {
      if (!assigned[i]) { decisions.push(null); return; }
      const [slot, smoothed] = assigned[i];
      const lengths = smoothed.slice(0, k), err = smoothed.length > k ? smoothed[k] : null;
      const decision = decide(lengths, classes, rule, err);
      decisions.push({ ...decision, pose_error: err });
      const box = hand.box || (() => { // pose-only models: the crop square is still drawn
        const xs = hand.xy.map((p) => p[0]), ys = hand.xy.map((p) => p[1]);
        return { x0: Math.min(...xs), y0: Math.min(...ys), side: hand.size };
      })();
      views.push({ slot, landmarks: hand.xy, box, lengths, handedness: hand.handedness, label: decision.label,
                   status: decision.status, best: decision.index });
    });
    drawFrame(viewCtx, views, classes, rule.accept, config.hands, state.fps, rule.none_below);
    ms.draw = performance.now() - t0;
    if (speller) { // the first hand, as live feeds its Speller
      const first = hands.findIndex((_, i) => assigned[i]);
      const d = first >= 0 ? decisions[first] : null;
      const step = speller.update(ts / 1000, d ? hands[first].xy : null, d ? d.label : null, d ? classes[d.index] : null,
                                  Boolean(d && d.status === "none"));
      textLine.textContent = step.text + "_";
      state.text = step.text;
    }
    state.frames += 1;
    if (config.test) {
      state.records.push({
        frame: frameNumber(pixels.data, w, h), time: now, ms,
        state: frameState(decisions.filter((d) => d).map((d) => d.status)),
        hands: hands.map((hand, i) => ({ landmarks: hand.points, handedness: hand.handedness, score: hand.score, box: hand.box,
                                          raw: raw[i] && raw[i].slice(0, k), raw_pose_error: raw[i] && raw[i].length > k ? raw[i][k] : null,
                                          lengths: assigned[i] ? assigned[i][1].slice(0, k) : null, decision: decisions[i] })),
      });
    }
  };

  const loop = async () => {
    try {
      if (!state.paused) await step(); // tests set signcaps.paused to hold a frame for a screenshot
    } catch (err) {
      fail(err);
      return;
    }
    if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(loop);
    else requestAnimationFrame(loop);
  };
  loop();
}

run().catch(fail);
