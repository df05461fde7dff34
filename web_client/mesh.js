// The WebRTC mesh: one RTCPeerConnection per other person in the circle, negotiated with the
// W3C "perfect negotiation" pattern over Hearth `signal` frames.
//
// Rules of this module:
// - No DOM. Names follow the W3C spec (RTCPeerConnection, setLocalDescription, ...).
// - Who is polite is decided by comparing member ids, so both ends agree without talking.
//   The impolite end makes the first offer; the polite end adds its own tracks only once
//   that offer arrived, then answers with them. So the first exchange never collides (an
//   initial offer rolled back can leave Chromium without ICE candidates for the answer);
//   later renegotiations use the full perfect-negotiation dance.
// - Signal data is `{description}`, `{candidate}` or `{ready: true}`, plus `pc`: a random id
//   for the sender's RTCPeerConnection. `ready` is the polite end saying "I have a fresh
//   connection, please offer". An offer or `ready` with a new `pc` means they started over
//   (a reload): the old connection to them is closed and a fresh one takes its place.
// - Tracks are added once per connection; turning the camera off or going audio-only swaps
//   the sender's track (replaceTrack), so no renegotiation is needed. Bandwidth follows the
//   circle through RTCRtpSender.setParameters: the speaker sends full quality, listeners
//   thumbnails, and in large circles listeners pause video. Audio always flows.
// - `sync(ids)` is the only way peers come and go: whoever is no longer in the circle is hung
//   up on at once.

/**
 * @typedef {{active: boolean, scaleResolutionDownBy: number, maxBitrate: number, maxFramerate: number}} VideoProfile
 * @typedef {{pc: RTCPeerConnection, polite: boolean, ignoreOffer: boolean, localPc: string,
 *   remotePc: string, stream: MediaStream, audio: RTCRtpSender|null, video: RTCRtpSender|null,
 *   chain: Promise<void>, sending: boolean}} Peer
 *   `sending`: our tracks may be attached (at once when impolite, after the first offer when
 *   polite).
 *   `chain`: every negotiation step of this connection (our offers, their descriptions and
 *   candidates) runs on it one after another, so a remote offer can never interleave with
 *   the offer `negotiationneeded` is making.
 */

/** More people than this in the circle, and listeners pause their video. */
export const LARGE_CIRCLE = 7;

/**
 * What one person's camera should send, given their place in the circle.
 * @param {{speaking: boolean, someoneSpeaking: boolean, circleSize: number}} place
 * @returns {VideoProfile}
 */
export function videoProfile({ speaking, someoneSpeaking, circleSize }) {
  if (speaking) return { active: true, scaleResolutionDownBy: 1, maxBitrate: 1_500_000, maxFramerate: 30 };
  if (someoneSpeaking) {
    if (circleSize >= LARGE_CIRCLE) return { active: false, scaleResolutionDownBy: 4, maxBitrate: 60_000, maxFramerate: 10 };
    return { active: true, scaleResolutionDownBy: 4, maxBitrate: 100_000, maxFramerate: 12 };
  }
  // Open conversation: nobody holds the piece, everyone is a medium-sized face.
  if (circleSize >= LARGE_CIRCLE) return { active: true, scaleResolutionDownBy: 4, maxBitrate: 120_000, maxFramerate: 15 };
  return { active: true, scaleResolutionDownBy: 2, maxBitrate: 400_000, maxFramerate: 24 };
}

/** An ICE candidate line names a loopback address (used by the tests: traffic stays local). @param {string} line */
export function isLoopbackCandidate(line) {
  const address = line.split(" ")[4] || "";
  return address.startsWith("127.") || address === "::1";
}

/** @param {string} sdp @param {(line: string) => boolean} keep */
function filterSdpCandidates(sdp, keep) {
  return sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || keep(line.slice(2)))
    .join("\r\n");
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Events: `track` {member, stream} (a remote stream gained or lost a track), `peerstate`
 * {member, state} (RTCPeerConnection.connectionState), `hangup` {member}.
 */
export class Mesh extends EventTarget {
  /**
   * `iceTransportPolicy` "relay" (the host's HEARTH_ICE_POLICY) gathers only TURN relay
   * candidates, so no peer ever learns another member's address.
   * @param {{me: string, iceServers: RTCIceServer[], iceTransportPolicy?: RTCIceTransportPolicy,
   *   sendSignal: (to: string, data: Record<string, any>) => void,
   *   candidateFilter?: ((line: string) => boolean) | null}} options
   */
  constructor({ me, iceServers, iceTransportPolicy = "all", sendSignal, candidateFilter = null }) {
    super();
    this.me = me;
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy;
    this.sendSignal = sendSignal;
    this.candidateFilter = candidateFilter;
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** @type {MediaStream|null} */
    this.local = null;
    this.sendVideo = true;
    this.receiveVideo = true;
    /** @type {VideoProfile} */
    this.profile = videoProfile({ speaking: false, someoneSpeaking: false, circleSize: 2 });
    /** @type {string[]} the last few negotiation steps, for diagnosis (no SDP, no addresses) */
    this.trace = [];
  }

  /** @param {string} line */
  note(line) {
    this.trace.push(`${Math.round(performance.now())} ${line}`);
    if (this.trace.length > 200) this.trace.shift();
  }

  /**
   * A new welcome's ICE configuration (fresh TURN credentials, the host's policy).
   * @param {RTCIceServer[]} iceServers @param {RTCIceTransportPolicy} [iceTransportPolicy]
   */
  setIceServers(iceServers, iceTransportPolicy = this.iceTransportPolicy) {
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy;
    for (const peer of this.peers.values()) {
      try {
        peer.pc.setConfiguration({ ...peer.pc.getConfiguration(), iceServers, iceTransportPolicy });
      } catch {
        /* a configuration the connection cannot take: the next connection will */
      }
    }
  }

  /** The people to be connected with: everyone else in the circle. @param {string[]} ids */
  sync(ids) {
    const want = new Set(ids.filter((id) => id !== this.me));
    for (const id of [...this.peers.keys()]) if (!want.has(id)) this.hangUp(id);
    for (const id of want) if (!this.peers.has(id)) this.connect(id);
  }

  /**
   * Use this stream's tracks (or none). Existing connections swap tracks in place.
   * @param {MediaStream|null} stream
   */
  setLocalStream(stream) {
    this.local = stream;
    for (const peer of this.peers.values()) this.attachTracks(peer);
  }

  /** Send the camera or not (audio-only, away, camera off). @param {boolean} on */
  setSendVideo(on) {
    this.sendVideo = on;
    for (const peer of this.peers.values()) this.attachTracks(peer);
  }

  /** Ask others not to send video to us ("receive no video"). @param {boolean} on */
  setReceiveVideo(on) {
    if (this.receiveVideo === on) return;
    this.receiveVideo = on;
    for (const peer of this.peers.values()) this.setVideoDirections(peer);
  }

  /** @param {VideoProfile} profile */
  setProfile(profile) {
    const same = JSON.stringify(profile) === JSON.stringify(this.profile);
    this.profile = profile;
    if (!same) for (const peer of this.peers.values()) void this.applyProfile(peer);
  }

  /**
   * A fresh connection to `id`. `askForOffer`: a polite end says `ready` (not when an offer
   * is what made us connect).
   * @param {string} id @param {boolean} [askForOffer] @returns {Peer}
   */
  connect(id, askForOffer = true) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, iceTransportPolicy: this.iceTransportPolicy });
    /** @type {Peer} */
    const peer = {
      pc,
      polite: this.me < id,
      ignoreOffer: false,
      localPc: randomId(),
      remotePc: "",
      stream: new MediaStream(),
      audio: null,
      video: null,
      chain: Promise.resolve(),
      sending: this.me > id,
    };
    this.note(`connect ${id} as ${peer.localPc}`);
    this.peers.set(id, peer);
    pc.onnegotiationneeded = () =>
      this.enqueue(peer, async () => {
        // Whatever changed is negotiated by the exchange under way; this event fires again
        // when the connection is stable, if it still needs to.
        if (pc.signalingState !== "stable") return;
        await pc.setLocalDescription();
        this.signal(id, peer.localPc, { description: this.outgoing(pc.localDescription) });
      });
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate) return;
      if (this.candidateFilter && !this.candidateFilter(candidate.candidate)) return;
      this.signal(id, peer.localPc, { candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track }) => {
      const stream = peer.stream;
      for (const old of stream.getTracks()) if (old.kind === track.kind && old !== track) stream.removeTrack(old);
      if (!stream.getTracks().includes(track)) stream.addTrack(track);
      track.onended = () => {
        stream.removeTrack(track);
        this.emit("track", { member: id, stream });
      };
      this.emit("track", { member: id, stream });
    };
    pc.onconnectionstatechange = () => {
      this.emit("peerstate", { member: id, state: pc.connectionState });
      if (pc.connectionState === "failed") pc.restartIce();
    };
    pc.onsignalingstatechange = () => {
      if (pc.signalingState === "stable") {
        this.setVideoDirections(peer);
        void this.applyProfile(peer);
      }
    };
    this.attachTracks(peer);
    if (peer.polite && askForOffer) this.signal(id, peer.localPc, { ready: true });
    this.emit("peerstate", { member: id, state: pc.connectionState });
    return peer;
  }

  /** Run `step` after every earlier step of this connection. @param {Peer} peer @param {() => Promise<void>} step */
  enqueue(peer, step) {
    peer.chain = peer.chain.then(step).catch((err) => {
      this.note(`step failed: ${err instanceof Error ? err.name : "?"}`);
    });
    return peer.chain;
  }

  /** @param {Peer} peer */
  attachTracks(peer) {
    if (!peer.sending) return;
    const audio = this.local?.getAudioTracks()[0] || null;
    const video = (this.sendVideo && this.local?.getVideoTracks()[0]) || null;
    const stream = this.local || new MediaStream();
    if (audio) {
      if (peer.audio) void peer.audio.replaceTrack(audio);
      else peer.audio = peer.pc.addTrack(audio, stream);
    }
    if (peer.video) void peer.video.replaceTrack(video);
    else if (video) peer.video = peer.pc.addTrack(video, stream);
  }

  /** @param {Peer} peer */
  setVideoDirections(peer) {
    if (peer.pc.signalingState === "closed") return;
    for (const t of peer.pc.getTransceivers()) {
      if (t.currentDirection === "stopped" || t.receiver.track.kind !== "video") continue;
      const sending = t.sender === peer.video;
      /** @type {RTCRtpTransceiverDirection} */
      const want = this.receiveVideo ? (sending ? "sendrecv" : "recvonly") : sending ? "sendonly" : "inactive";
      if (t.direction !== want) t.direction = want; // negotiationneeded follows when it matters
    }
  }

  /** @param {Peer} peer */
  async applyProfile(peer) {
    const sender = peer.video;
    if (!sender || peer.pc.signalingState === "closed") return;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) return; // not negotiated yet
    const p = this.profile;
    for (const e of params.encodings) {
      e.active = p.active;
      e.scaleResolutionDownBy = p.scaleResolutionDownBy;
      e.maxBitrate = p.maxBitrate;
      e.maxFramerate = p.maxFramerate;
    }
    try {
      await sender.setParameters(params);
    } catch {
      /* parameters changed meanwhile; the next change applies again */
    }
  }

  /**
   * A signal from another member. @param {string} from @param {Record<string, any>} data
   */
  handleSignal(from, data) {
    if (!data || typeof data !== "object") return Promise.resolve();
    const remotePc = typeof data.pc === "string" ? data.pc : "";
    // The server relays signals only between people in the circle, so a signal from someone
    // we have no connection with yet (their offer overtook the event that lets them in)
    // starts one: dropping it would leave their offer unanswered for good.
    const offer = data.description?.type === "offer";
    let peer = this.peers.get(from) || this.connect(from, !offer);
    const known = peer.remotePc;
    if ((offer || data.ready) && known && remotePc && remotePc !== known) {
      // They started over (a reload): a fresh connection takes the place of the old one.
      // A `ready` asks the impolite end to offer again; the polite end just waits for it.
      if (data.ready && peer.polite) return Promise.resolve();
      this.note(`restart ${from}: ${known} -> ${remotePc}`);
      this.hangUp(from, false);
      peer = this.connect(from, false);
    }
    if (data.ready) {
      if (!peer.remotePc) peer.remotePc = remotePc;
      return Promise.resolve();
    }
    const current = peer;
    return this.enqueue(current, async () => {
      if (this.peers.get(from) !== current) return; // hung up meanwhile
      const pc = current.pc;
      this.note(`recv ${from} ${remotePc} ${data.description ? data.description.type : "candidate"} known=${current.remotePc} sig=${pc.signalingState}`);
      if (data.description) {
        if (remotePc) current.remotePc = remotePc; // an answer may come from their new connection
        const description = this.incoming(data.description);
        const collision = description.type === "offer" && pc.signalingState !== "stable";
        current.ignoreOffer = !current.polite && collision;
        if (current.ignoreOffer) {
          this.note(`ignore offer from ${from}`);
          return;
        }
        await pc.setRemoteDescription(description); // a polite collision rolls back our offer
        if (description.type === "offer") {
          if (!current.sending) {
            // The first offer is here: our tracks join its transceivers, so the answer
            // carries them and no second round is needed.
            current.sending = true;
            this.attachTracks(current);
            this.setVideoDirections(current);
          }
          await pc.setLocalDescription();
          this.signal(from, current.localPc, { description: this.outgoing(pc.localDescription) });
        }
      } else if (data.candidate) {
        if (current.remotePc && remotePc && remotePc !== current.remotePc) return; // an old connection's
        const c = data.candidate;
        if (this.candidateFilter && c.candidate && !this.candidateFilter(c.candidate)) return;
        try {
          await pc.addIceCandidate(c);
        } catch (err) {
          if (!current.ignoreOffer) throw err; // candidates of an offer we ignored don't matter
        }
      }
    });
  }

  /** @param {RTCSessionDescription|null} d @returns {RTCSessionDescriptionInit} */
  outgoing(d) {
    const init = { type: /** @type {RTCSdpType} */ (d?.type), sdp: d?.sdp || "" };
    if (this.candidateFilter) init.sdp = filterSdpCandidates(init.sdp, this.candidateFilter);
    return init;
  }

  /** @param {any} d @returns {RTCSessionDescriptionInit} */
  incoming(d) {
    const init = { type: /** @type {RTCSdpType} */ (String(d.type)), sdp: String(d.sdp || "") };
    if (this.candidateFilter) init.sdp = filterSdpCandidates(init.sdp, this.candidateFilter);
    return init;
  }

  /** @param {string} to @param {string} localPc @param {Record<string, any>} data */
  signal(to, localPc, data) {
    this.note(`send ${to} ${localPc} ${data.description ? data.description.type : "candidate"}`);
    this.sendSignal(to, { ...data, pc: localPc });
  }

  /** Close the connection to someone who left or was removed. @param {string} id @param {boolean} [announce] */
  hangUp(id, announce = true) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.pc.onnegotiationneeded = peer.pc.onicecandidate = peer.pc.ontrack = null;
    peer.pc.onconnectionstatechange = peer.pc.onsignalingstatechange = null;
    peer.pc.close();
    if (announce) this.emit("hangup", { member: id });
  }

  close() {
    for (const id of [...this.peers.keys()]) this.hangUp(id);
  }

  /** The remote stream of one member (possibly without tracks yet). @param {string} id */
  streamOf(id) {
    return this.peers.get(id)?.stream || null;
  }

  /**
   * Counters for the tests and the connection indicator: per member, what arrives and what
   * we send. @returns {Promise<Record<string, {framesDecoded: number, audioPackets: number,
   *   videoBytesSent: number, audioBytesSent: number, state: string}>>}
   */
  async stats() {
    /** @type {Record<string, any>} */
    const out = {};
    for (const [id, peer] of this.peers) {
      const row = { framesDecoded: 0, audioPackets: 0, videoBytesSent: 0, audioBytesSent: 0, state: peer.pc.connectionState };
      const report = await peer.pc.getStats();
      report.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") row.framesDecoded += s.framesDecoded || 0;
        if (s.type === "inbound-rtp" && s.kind === "audio") row.audioPackets += s.packetsReceived || 0;
        if (s.type === "outbound-rtp" && s.kind === "video") row.videoBytesSent += s.bytesSent || 0;
        if (s.type === "outbound-rtp" && s.kind === "audio") row.audioBytesSent += s.bytesSent || 0;
      });
      out[id] = row;
    }
    return out;
  }

  /** @param {string} type @param {any} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
