// The pre-join connection check: a short WebRTC session with the node's own echo peer.
//
// Rules of this module:
// - No DOM. One function, `checkConnection`, always resolves, with a verdict the join page
//   explains in plain words; no failure here ever stops anyone from joining.
// - The API (POST /api/check): the body is the offer `{sdp, type: "offer"}` with every ICE
//   candidate gathered (no trickle); the answer comes back the same way. A data channel
//   named "check" echoes JSON `{n, t}` messages, which give round-trip time and loss; the
//   audio (and video, when offered) comes back too. 503 `{"error":"busy"}` when too many
//   checks run, 429 when this address asked too often. The server ends the peer after ~15 s.
// - ICE: the host's STUN/TURN servers and policy, as POST /api/preview hands them out (with
//   TURN credentials that live minutes), so the check tries the paths a meeting will use;
//   with none given, host candidates only, never a public STUN server the host did not name.

const GATHER_MS = 3000;
const OPEN_MS = 6000;
const PROBES = 25;
const PROBE_EVERY_MS = 80;
const SETTLE_MS = 800;

/**
 * @typedef {{verdict: "good"|"audio"|"poor"|"untested"|"busy", rttMs: number|null,
 *   loss: number|null, mediaBack: boolean}} CheckResult
 *   good: fine for video (or for audio, when no camera is on); audio: audio-only is wiser; poor: even audio may struggle;
 *   untested: the check could not run (you can still join); busy: try again in a minute.
 */

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @param {RTCPeerConnection} pc */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") resolve(undefined);
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_MS);
  });
}

/** @param {RTCDataChannel} channel */
function opened(channel) {
  if (channel.readyState === "open") return Promise.resolve(true);
  return new Promise((resolve) => {
    channel.addEventListener("open", () => resolve(true));
    setTimeout(() => resolve(channel.readyState === "open"), OPEN_MS);
  });
}

/**
 * Run the check with this stream's tracks (clones: the preview keeps its own).
 * @param {{stream: MediaStream|null, url?: string, candidateFilter?: ((line: string) => boolean)|null,
 *   iceServers?: RTCIceServer[], iceTransportPolicy?: RTCIceTransportPolicy}} options
 * @returns {Promise<CheckResult>}
 */
export async function checkConnection({ stream, url = "/api/check", candidateFilter = null, iceServers = [], iceTransportPolicy = "all" }) {
  /** @type {CheckResult} */
  const untested = { verdict: "untested", rttMs: null, loss: null, mediaBack: false };
  let pc = null;
  try {
    pc = new RTCPeerConnection({ iceServers, iceTransportPolicy });
    // Unordered and never retransmitted, so a lost probe stays lost and shows as loss.
    const channel = pc.createDataChannel("check", { ordered: false, maxRetransmits: 0 });
    // At most one audio and one video track, each sent (sendrecv): the echo peer reads
    // everything it receives and sends it back.
    const tracks = [stream?.getAudioTracks()[0], stream?.getVideoTracks()[0]]
      .filter((t) => t && t.readyState === "live")
      .map((t) => /** @type {MediaStreamTrack} */ (t).clone());
    for (const t of tracks) pc.addTrack(t);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const offer = pc.localDescription;
    if (!offer) return untested;
    const offerSdp = candidateFilter ? keepCandidates(offer.sdp, candidateFilter) : offer.sdp;
    const answer = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: offerSdp, type: "offer" }),
      credentials: "omit",
      cache: "no-store",
    });
    const body = await answer.json().catch(() => /** @type {any} */ (null));
    if (answer.status === 429 || (answer.status === 503 && body?.error === "busy")) return { ...untested, verdict: "busy" };
    if (!answer.ok) return untested;
    if (!body || body.type !== "answer" || typeof body.sdp !== "string") return untested;
    const sdp = candidateFilter ? keepCandidates(body.sdp, candidateFilter) : body.sdp;
    await pc.setRemoteDescription({ type: "answer", sdp });
    if (!(await opened(channel))) return untested;

    /** @type {Map<number, number>} */
    const rtts = new Map();
    channel.onmessage = (m) => {
      try {
        const echo = JSON.parse(String(m.data));
        if (typeof echo.n === "number" && typeof echo.t === "number") rtts.set(echo.n, performance.now() - echo.t);
      } catch {
        /* not ours */
      }
    };
    for (let n = 0; n < PROBES; n++) {
      channel.send(JSON.stringify({ n, t: performance.now() }));
      await sleep(PROBE_EVERY_MS);
    }
    await sleep(SETTLE_MS);
    const loss = 1 - rtts.size / PROBES;
    const sorted = [...rtts.values()].sort((a, b) => a - b);
    const rttMs = sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
    let mediaBack = false;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && (s.packetsReceived || 0) > 0) mediaBack = true;
    });
    for (const t of tracks) t.stop();
    return { verdict: verdictOf(rttMs, loss), rttMs, loss, mediaBack };
  } catch {
    return untested;
  } finally {
    pc?.close();
  }
}

/** @param {string} sdp @param {(line: string) => boolean} keep */
function keepCandidates(sdp, keep) {
  return sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || keep(line.slice(2)))
    .join("\r\n");
}

/**
 * @param {number|null} rttMs @param {number} loss
 * @returns {CheckResult["verdict"]}
 */
export function verdictOf(rttMs, loss) {
  if (rttMs === null) return "poor";
  if (rttMs < 250 && loss <= 0.04) return "good";
  if (rttMs < 700 && loss <= 0.15) return "audio";
  return "poor";
}
