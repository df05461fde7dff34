// The Hearth wire (docs/protocol.md) for the browser: socket, codec, hello, resume, requests.
//
// Rules of this module:
// - No DOM. It speaks to the UI only through events (a `Session` is an EventTarget) and
//   promises, so it can be read and tested as the protocol alone.
// - One WebSocket at a time. A socket that drops for a resumable reason (network, GOING_AWAY,
//   TOO_SLOW, INTERNAL, an unanswered ping) is replaced with backoff, and the seat is resumed
//   with the last resume token and seq. After MOVING (a draining node: the seat is kept) the
//   first try goes at once, with no backoff: the load balancer sends it to another node. Closes that end the seat (removed, left, ended,
//   replaced) end the session instead.
// - A resume always asks from the last seq this tab has seen (not the last welcome's), and an
//   event at or below that seq in the same epoch is dropped: a replay never shows anything
//   twice. A resume the server refuses (`resume_expired`: the seat ended past the grace
//   period, or the node restarted and lost the meeting) ends the session with "expired" at
//   once, whichever attempt it was, so the page can go back in through its link instead of
//   retrying for ever.
// - Requests (`cmd`, `chat`) carry ids that are never reused for a seat, even across a
//   reload: the counter lives beside the resume token in the tab's sessionStorage, since the
//   server treats a repeated id as the same request. A request still unanswered when the
//   socket dropped is sent again after the resume with the same id, which the server dedupes.
// - What a reload needs (the resume token, seq, epoch, next request id, and the seq from which
//   this seat has seen the chat) is kept per tab in sessionStorage: numbers and a token only;
//   names, chat and everything else said in a meeting live only in memory. So after a reload
//   the chat is asked of the server again: the seat takes a fresh snapshot (which holds no
//   chat), then at once resumes once more from `chatFrom`, and of the replayed events up to
//   the snapshot's seq only the chat lines are passed on (the snapshot already holds the
//   rest). Each line arrives once, in order; a history too short for it gives a snapshot.

import { encode, decode } from "./vendor/msgpack/index.mjs";

/** WebSocket close codes (signaling/closes.py). */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  MOVING: 1012,
  REMOVED: 4000,
  REPLACED: 4001,
  TOO_SLOW: 4002,
  HELLO_TIMEOUT: 4003,
  ENDED: 4004,
  LEFT: 4005,
  RESUME_FAILED: 4006,
});

/** Closes after which the seat is over: the session ends with this reason. @type {Map<number, string>} */
const ENDINGS = new Map([
  [CLOSE.REMOVED, "removed"],
  [CLOSE.REPLACED, "replaced"],
  [CLOSE.ENDED, "ended"],
  [CLOSE.LEFT, "left"],
  [CLOSE.RESUME_FAILED, "expired"],
  [CLOSE.POLICY, "refused"],
]);

const WELCOME_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 20_000;
const PING_EVERY_MS = 15_000;
const PONG_TIMEOUT_MS = 10_000;
const BACKOFF_MS = [250, 1000, 2000, 4000, 8000];
const MAX_ID = 2 ** 53 - 1;
const SEAT_KEY = "hearth.seat";

/**
 * @typedef {Record<string, any>} Frame  A decoded msgpack map.
 * @typedef {{room: string, resume: string, seq: number, epoch: string, nextId: number, chatFrom?: number}} Seat
 *   What a tab keeps to resume its seat after a reload.
 * @typedef {{room: string, token: string, name: string, accept: boolean, key?: string}} HelloArgs
 * @typedef {"idle"|"connecting"|"open"|"reconnecting"|"ended"} Status
 */

/** A refused request or hello: the server's `error` frame, or a local failure. */
export class RequestError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Encode a frame as msgpack bytes. @param {Frame} frame @returns {Uint8Array} */
export function pack(frame) {
  return encode(frame);
}

/** Decode one binary frame, or null when it is not a msgpack map. @param {ArrayBuffer} data */
export function unpack(data) {
  try {
    const value = decode(new Uint8Array(data));
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? /** @type {Frame} */ (value)
      : null;
  } catch {
    return null;
  }
}

/** The seat this tab holds in `room`, if any. @param {Storage} store @param {string} room */
export function savedSeat(store, room) {
  try {
    const seat = JSON.parse(store.getItem(SEAT_KEY) || "null");
    return seat && seat.room === room && typeof seat.resume === "string" ? /** @type {Seat} */ (seat) : null;
  } catch {
    return null;
  }
}

/**
 * One person's connection to one room.
 *
 * Events (all CustomEvent, `detail` as noted):
 * - `welcome` {frame}: replace the view of the room (every welcome does; `frame.resumed` true
 *   means the missed events follow, on top of the view already held)
 * - `event` {frame}: one room event, in seq order
 * - `signal` {from, data}: a WebRTC signal from another member
 * - `status` {status, attempt}: connecting, open, reconnecting, ended
 * - `ended` {reason, code}: the seat is over (removed, left, ended, replaced, expired, refused)
 * - `clock` {offset}: server time minus local time, in seconds, refined by each pong
 * - `problem` {code, message}: an error frame that answered no request
 */
export class Session extends EventTarget {
  /**
   * @param {{url: string, store: Storage, WebSocketImpl?: typeof WebSocket}} options
   */
  constructor({ url, store, WebSocketImpl = WebSocket }) {
    super();
    this.url = url;
    this.store = store;
    this.WebSocketImpl = WebSocketImpl;
    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {Status} */
    this.status = "idle";
    this.me = "";
    this.role = "";
    this.room = "";
    this.epoch = "";
    this.seq = 0;
    this.resumeToken = "";
    /** @type {any[]} the last welcome's ICE servers */
    this.ice = [];
    /** @type {RTCIceTransportPolicy} the last welcome's: "relay" hides addresses from peers */
    this.icePolicy = "all";
    /** Server clock minus local clock, seconds. */
    this.offset = 0;
    this.bestRtt = Infinity;
    /** Whether a view of the room is held that replayed events can be applied to. */
    this.hasView = false;
    this.nextId = Math.floor(Math.random() * 2 ** 31) + 1;
    /** @type {Map<number, {frame: Frame, resolve: (f: Frame) => void, reject: (e: Error) => void, timer: number}>} */
    this.pending = new Map();
    this.attempt = 0;
    /** @type {Frame|null} the first frame of the next socket */
    this.greeting = null;
    /** @type {((f: Frame) => void)|null} */
    this.onWelcome = null;
    /** @type {((e: Error) => void)|null} */
    this.onRefused = null;
    this.timers = { ping: 0, pong: 0, retry: 0, welcome: 0 };
    this.pingId = 0;
    /** @type {Map<number, number>} ping id -> local send time (ms) */
    this.pings = new Map();
    /** performance.now() before which a dropped socket is not replaced (tests only) */
    this.holdUntil = 0;
    /** The seq from which this seat has seen the chat (its first welcome in the circle). */
    this.chatFrom = 0;
    this.refill = false;
    /** @type {{from: number, until: number, epoch: string, welcome: Frame|null}|null}
     *  a reload's chat being refilled: the snapshot's welcome waits for it, so the page starts
     *  (media included) only once, on the socket that stays */
    this.backfill = null;
  }

  /** Server time now, in seconds since the epoch. */
  now() {
    return Date.now() / 1000 + this.offset;
  }

  /**
   * Say hello with an invite or facilitator token. Resolves with the first welcome;
   * rejects with a RequestError (bad_token, room_locked, invalid, not_allowed,
   * rate_limited, network) and leaves the session idle so the person can try again.
   * @param {HelloArgs} hello
   * @returns {Promise<Frame>}
   */
  join(hello) {
    // A fresh seat: nothing of an earlier one (an expired seat this tab joins again) is kept.
    this.room = hello.room;
    this.resumeToken = "";
    this.epoch = "";
    this.seq = 0;
    this.hasView = false;
    this.attempt = 0;
    this.chatFrom = 0;
    this.refill = false;
    this.backfill = null;
    this.status = this.status === "ended" ? "idle" : this.status;
    /** @type {Frame} */
    const frame = { t: "hello", room: hello.room, token: hello.token, name: hello.name, accept: hello.accept };
    if (hello.key) frame.key = hello.key;
    return this.open(frame);
  }

  /**
   * Take back the seat this tab held (after a reload). Resolves with the welcome; rejects
   * with `resume_expired` when the seat has ended.
   * @param {Seat} seat
   */
  resumeSeat(seat) {
    this.room = seat.room;
    this.resumeToken = seat.resume;
    this.epoch = seat.epoch;
    this.nextId = Math.max(this.nextId, seat.nextId || 0);
    // After a reload no view is held to replay onto: seq 0 asks for a fresh snapshot (a
    // replay from before the seat existed is always answered with one).
    this.seq = 0;
    this.hasView = false;
    this.chatFrom = seat.chatFrom || 0;
    this.refill = true; // once the snapshot is in, ask again for the chat it lacks
    return this.open(this.resumeHello());
  }

  /** The hello that takes this seat back: from the last seq seen, or a snapshot without a view. */
  resumeHello() {
    const seq = this.backfill ? this.backfill.from : this.hasView ? this.seq : 0;
    return { t: "hello", resume: this.resumeToken, seq };
  }

  /**
   * A reload's snapshot: hold it and resume again at once from `chatFrom`, keeping only the
   * chat of what the snapshot already covers (see the module's rules). Returns whether it did.
   * @param {Frame} frame the snapshot's welcome
   */
  refillChat(frame) {
    this.refill = false;
    const ok = this.chatFrom && this.chatFrom < frame.seq && frame.epoch === this.epoch && this.ws;
    if (!ok || !this.ws) return false;
    this.backfill = { from: this.chatFrom, until: frame.seq, epoch: frame.epoch, welcome: frame };
    this.resumeToken = frame.resume;
    const ws = this.ws;
    this.ws = null;
    ws.close(CLOSE.NORMAL, "chat refill");
    this.connect();
    return true;
  }

  /** @param {Frame} greeting */
  open(greeting) {
    return new Promise((resolve, reject) => {
      this.greeting = greeting;
      this.onWelcome = resolve;
      this.onRefused = reject;
      this.connect();
    });
  }

  connect() {
    this.clearTimers();
    const ws = new this.WebSocketImpl(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.setStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    ws.onopen = () => {
      if (this.ws !== ws || !this.greeting) return;
      // A resume asks from the last seq seen now, not when the greeting was made.
      ws.send(pack(this.greeting.resume ? this.resumeHello() : this.greeting));
      this.timers.welcome = setTimeout(() => ws.close(CLOSE.NORMAL, "no welcome"), WELCOME_TIMEOUT_MS);
    };
    ws.onmessage = (message) => {
      if (this.ws !== ws || !(message.data instanceof ArrayBuffer)) return;
      const frame = unpack(message.data);
      if (frame) this.receive(frame);
    };
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lost(close.code);
    };
  }

  /** @param {Frame} frame */
  receive(frame) {
    switch (frame.t) {
      case "welcome":
        return this.welcomed(frame);
      case "event":
        if (this.backfill && frame.epoch === this.backfill.epoch && frame.seq <= this.backfill.until) {
          if (frame.type === "chat" && frame.seq > this.backfill.from) this.emit("event", { frame });
          return; // everything else is in the snapshot already
        }
        if (frame.epoch === this.epoch) {
          if (typeof frame.seq === "number" && frame.seq <= this.seq) return; // seen already
          this.seq = frame.seq;
        }
        this.emit("event", { frame });
        this.save();
        return;
      case "ack":
        return this.settle(frame.id, frame, null);
      case "error":
        return this.refused(frame);
      case "pong":
        return this.ponged(frame);
      case "signal":
        return this.emit("signal", { from: frame.from, data: frame.data });
    }
  }

  /** @param {Frame} frame */
  welcomed(frame) {
    clearTimeout(this.timers.welcome);
    if (frame.resumed && this.backfill?.welcome) {
      // The chat refill answered: the held snapshot is the view, with this socket's token;
      // the replayed chat follows.
      frame = { ...this.backfill.welcome, resume: frame.resume };
      this.backfill.welcome = null;
    } else if (!frame.resumed && this.refill && this.refillChat(frame)) {
      return;
    } else if (!frame.resumed) {
      this.backfill = null;
    }
    if (frame.resumed && !this.hasView) {
      // A replay with nothing to replay onto: ask again for a snapshot (the token rotated).
      this.resumeToken = frame.resume;
      this.greeting = { t: "hello", resume: frame.resume, seq: 0 };
      this.ws?.close(CLOSE.NORMAL, "need a snapshot");
      return;
    }
    if (frame.epoch !== this.epoch) this.chatFrom = 0;
    if (!this.chatFrom && frame.state && !frame.state.lobby) this.chatFrom = frame.seq;
    this.me = frame.me;
    this.role = frame.role;
    this.epoch = frame.epoch;
    this.seq = frame.seq;
    this.resumeToken = frame.resume;
    this.ice = Array.isArray(frame.ice) ? frame.ice : [];
    this.icePolicy = frame.ice_policy === "relay" ? "relay" : "all";
    this.hasView = true;
    this.attempt = 0;
    this.greeting = this.resumeHello();
    if (typeof frame.now === "number" && this.bestRtt === Infinity) this.offset = frame.now - Date.now() / 1000;
    this.save();
    this.setStatus("open");
    this.emit("welcome", { frame });
    const done = this.onWelcome;
    this.onWelcome = this.onRefused = null;
    done?.(frame);
    for (const p of this.pending.values()) this.ws?.send(pack(p.frame)); // same ids: deduped
    this.schedulePing(1000);
  }

  /** @param {Frame} frame */
  refused(frame) {
    const error = new RequestError(String(frame.code || "internal"), String(frame.message || ""));
    if (typeof frame.id === "number" && this.pending.has(frame.id)) {
      return this.settle(frame.id, null, error);
    }
    if (error.code === "resume_expired" && this.greeting?.resume && this.status !== "open") {
      // The seat is gone (past the grace period, or the meeting with it after a restart):
      // retrying can't help, so say so now, on the first attempt or the tenth.
      const ws = this.ws;
      this.ws = null;
      ws?.close(CLOSE.NORMAL, "expired");
      this.end("expired", 0);
      return;
    }
    if (this.onRefused && this.status !== "open") {
      // The hello itself was refused; the socket stays in the greeting phase, so close it.
      const reject = this.onRefused;
      this.onWelcome = this.onRefused = null;
      this.greeting = null;
      const ws = this.ws;
      this.ws = null;
      ws?.close(CLOSE.NORMAL, "refused");
      this.clearTimers();
      this.setStatus("idle");
      reject(error);
      return;
    }
    this.emit("problem", { code: error.code, message: error.message });
  }

  /** @param {number} code */
  lost(code) {
    this.clearTimers();
    this.backfill = null; // a refill cut short: the next resume asks from the last seq seen
    const ending = ENDINGS.get(code);
    if (ending || !this.greeting) {
      this.end(ending || "closed", code);
      return;
    }
    if (this.status === "connecting" && this.onRefused && !this.resumeToken) {
      // The very first connection failed before any welcome: say so and stop.
      const reject = this.onRefused;
      this.onWelcome = this.onRefused = null;
      this.greeting = null;
      this.setStatus("idle");
      reject(new RequestError("network", "could not connect"));
      return;
    }
    const atOnce = code === CLOSE.MOVING && this.attempt === 0;
    const backoff = atOnce ? 0 : BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] * (0.75 + Math.random() / 2);
    const delay = Math.max(backoff, this.holdUntil - performance.now());
    this.attempt += 1;
    this.setStatus("reconnecting");
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  /** @param {string} reason @param {number} code */
  end(reason, code) {
    this.clearTimers();
    this.greeting = null;
    this.forget();
    for (const [id] of this.pending) this.settle(id, null, new RequestError("closed", reason));
    if (this.onRefused) {
      const reject = this.onRefused;
      this.onWelcome = this.onRefused = null;
      reject(new RequestError(reason, reason));
    }
    if (this.status === "ended") return;
    this.setStatus("ended");
    this.emit("ended", { reason, code });
  }

  // --- requests ---------------------------------------------------------------------------

  /**
   * Send a room op; resolves on `ack`, rejects with a RequestError on `error` or timeout.
   * @param {string} op @param {Record<string, any>} [args]
   */
  command(op, args = {}) {
    return this.request({ t: "cmd", op, args });
  }

  /** @param {string} text */
  chat(text) {
    return this.request({ t: "chat", text });
  }

  /** @param {Frame} frame @returns {Promise<Frame>} */
  request(frame) {
    const id = this.nextId;
    this.nextId = this.nextId >= MAX_ID ? 1 : this.nextId + 1;
    this.save();
    const full = { ...frame, id };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.settle(id, null, new RequestError("timeout", "no answer")),
        REQUEST_TIMEOUT_MS,
      );
      this.pending.set(id, { frame: full, resolve, reject, timer });
      if (this.status === "open") this.ws?.send(pack(full));
    });
  }

  /** @param {number} id @param {Frame|null} reply @param {Error|null} error */
  settle(id, reply, error) {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(/** @type {Frame} */ (reply));
  }

  /** A sign of support; no id, no ack. @param {string} emoji */
  react(emoji) {
    this.send({ t: "react", emoji });
  }

  /** A WebRTC signal to one member. @param {string} to @param {Record<string, any>} data */
  signal(to, data) {
    this.send({ t: "signal", to, data });
  }

  /** @param {Frame} frame */
  send(frame) {
    if (this.status === "open" && this.ws) this.ws.send(pack(frame));
  }

  /** Leave the meeting for good. */
  async leave() {
    try {
      await this.command("leave");
    } finally {
      this.end("left", CLOSE.LEFT);
      this.ws?.close(CLOSE.NORMAL, "left");
    }
  }

  /**
   * Drop the socket as a network failure would (the seat is kept and resumed), staying
   * offline for at least `holdMs`. For the browser tests (`?test`).
   * @param {number} [holdMs]
   */
  dropForTest(holdMs = 0) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.holdUntil = performance.now() + holdMs;
    ws.close(CLOSE.NORMAL, "test drop");
    this.lost(1006);
  }

  // --- clock and liveness -----------------------------------------------------------------

  /** @param {number} delay */
  schedulePing(delay) {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => this.ping(), delay);
  }

  ping() {
    if (this.status !== "open" || !this.ws) return;
    const id = ++this.pingId;
    this.pings.set(id, performance.now());
    this.ws.send(pack({ t: "ping", id }));
    const ws = this.ws;
    // No pong in time: the socket is dead even if the browser has not noticed yet.
    this.timers.pong = setTimeout(() => {
      if (this.ws === ws) {
        this.ws = null;
        ws.close(CLOSE.NORMAL, "no pong");
        this.lost(1006);
      }
    }, PONG_TIMEOUT_MS);
  }

  /** @param {Frame} frame */
  ponged(frame) {
    clearTimeout(this.timers.pong);
    const sent = this.pings.get(frame.id);
    this.pings.delete(frame.id);
    if (sent !== undefined && typeof frame.now === "number") {
      const rtt = (performance.now() - sent) / 1000;
      // The sample with the shortest round trip bounds the offset best; let it age slowly.
      if (rtt <= this.bestRtt * 1.5) {
        this.bestRtt = Math.min(this.bestRtt, rtt);
        this.offset = frame.now + rtt / 2 - Date.now() / 1000;
        this.emit("clock", { offset: this.offset });
      }
      this.bestRtt *= 1.05;
    }
    this.schedulePing(PING_EVERY_MS);
  }

  // --- bookkeeping ------------------------------------------------------------------------

  clearTimers() {
    for (const t of Object.values(this.timers)) clearTimeout(t);
  }

  save() {
    if (!this.resumeToken || this.status === "ended") return;
    /** @type {Seat} */
    const seat = { room: this.room, resume: this.resumeToken, seq: this.seq, epoch: this.epoch, nextId: this.nextId, chatFrom: this.chatFrom };
    try {
      this.store.setItem(SEAT_KEY, JSON.stringify(seat));
    } catch {
      /* storage full or disabled: a reload will ask to join again */
    }
  }

  forget() {
    try {
      this.store.removeItem(SEAT_KEY);
    } catch {
      /* nothing kept */
    }
  }

  /** @param {Status} status */
  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit("status", { status, attempt: this.attempt });
  }

  /** @param {string} type @param {any} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
