// The person's own camera and microphone: opening them, choosing devices, the level meter.
//
// Rules of this module:
// - No DOM. Failures are plain results the UI can explain ("no camera", "blocked"), never
//   exceptions a person would see raw.
// - Device choices and the audio-only / receive-no-video preferences are kept in this
//   browser's localStorage: they say nothing about what was said or who was there.

const PREFS_KEY = "hearth.prefs";

/**
 * @typedef {{audioDevice: string, videoDevice: string, audioOnly: boolean, receiveVideo: boolean,
 *   countdown: "everyone"|"speaker"}} Prefs
 * @typedef {{stream: MediaStream|null, audio: boolean, video: boolean, problem: string}} Opened
 *   `problem`: "" | "blocked" (permission refused) | "none" (no device) | "busy" | "failed"
 */

/** @param {Storage} store @returns {Prefs} */
export function loadPrefs(store) {
  /** @type {Prefs} */
  const prefs = { audioDevice: "", videoDevice: "", audioOnly: false, receiveVideo: true, countdown: "everyone" };
  try {
    Object.assign(prefs, JSON.parse(store.getItem(PREFS_KEY) || "{}"));
  } catch {
    /* defaults */
  }
  return prefs;
}

/** @param {Storage} store @param {Prefs} prefs */
export function savePrefs(store, prefs) {
  try {
    store.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    /* not kept */
  }
}

/** @param {unknown} err */
function problemOf(err) {
  const name = err instanceof Error ? err.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") return "blocked";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "none";
  if (name === "NotReadableError" || name === "AbortError") return "busy";
  return "failed";
}

/**
 * Open the microphone and, unless `video` is false, the camera. Falls back to audio alone
 * when the camera can't be had, and to nothing (with a problem) when neither can.
 * @param {{audioDevice?: string, videoDevice?: string, video: boolean}} want
 * @returns {Promise<Opened>}
 */
export async function openMedia({ audioDevice = "", videoDevice = "", video }) {
  if (!navigator.mediaDevices?.getUserMedia) return { stream: null, audio: false, video: false, problem: "failed" };
  /** @type {MediaTrackConstraints} */
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (audioDevice) audio.deviceId = { ideal: audioDevice };
  /** @type {MediaTrackConstraints} */
  const camera = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } };
  if (videoDevice) camera.deviceId = { ideal: videoDevice };
  if (video) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio, video: camera });
      return { stream, audio: true, video: true, problem: "" };
    } catch {
      /* try the microphone alone */
    }
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio });
    return { stream, audio: true, video: false, problem: video ? "none" : "" };
  } catch (err) {
    return { stream: null, audio: false, video: false, problem: problemOf(err) };
  }
}

/** @param {MediaStream|null} stream */
export function stopMedia(stream) {
  for (const t of stream?.getTracks() || []) t.stop();
}

/** Cameras and microphones, once permission was given (labels are empty before). */
export async function listDevices() {
  /** @type {{audio: MediaDeviceInfo[], video: MediaDeviceInfo[]}} */
  const out = { audio: [], video: [] };
  try {
    for (const d of await navigator.mediaDevices.enumerateDevices()) {
      if (d.kind === "audioinput") out.audio.push(d);
      if (d.kind === "videoinput") out.video.push(d);
    }
  } catch {
    /* none to list */
  }
  return out;
}

/**
 * Call `onLevel` (0..1) about ten times a second with the microphone's loudness.
 * Returns a function that stops it.
 * @param {MediaStream} stream @param {(level: number) => void} onLevel
 */
export function watchLevel(stream, onLevel) {
  if (stream.getAudioTracks().length === 0 || typeof AudioContext === "undefined") return () => {};
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    onLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
  }, 100);
  return () => {
    clearInterval(timer);
    source.disconnect();
    void context.close();
  };
}
