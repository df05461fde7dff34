// The page: reads the link, picks the screen (join, lobby, circle, the end), and wires the
// protocol session, the room view, local media and the WebRTC mesh to the screens.
//
// Rules of this module:
// - The token in the link's fragment is read once and removed from the address bar at once
//   (history.replaceState): never shown, never shared by accident, never sent anywhere but
//   in `hello`. It stays in this tab's sessionStorage for the tab's life: a reload of the join
//   page still works, and when a seat ends without the person choosing it (the seat expired
//   past the grace period, or a node restart lost the meeting) the page goes back in
//   through the same link by itself, with the name typed earlier (kept in memory only): a
//   facilitator straight in, a member to the lobby or straight back, as the room allows.
// - Opening an invite link again in the same tab (only the fragment changes: `hashchange`)
//   reads it like a fresh page would. A link the server doesn't know is said so at the top,
//   before any camera opens.
// - Every `welcome` replaces the view; events fold into it (room.js); the screens redraw
//   from the view, coalesced, so a burst of events costs one redraw.
// - The page title is always "Hearth": no room or person's name in titles or URLs.
// - `?test` in the address exposes `window.hearthTest` (drop the socket, read WebRTC stats)
//   and keeps ICE to loopback addresses, for the browser tests. Nothing else changes.

import { Session, savedSeat, RequestError } from "./protocol.js";
import { viewFromWelcome, applyEvent, nextSpeaker, speakerOf, memberOf, isFacilitator } from "./room.js";
import { Mesh, videoProfile, isLoopbackCandidate } from "./mesh.js";
import { loadPrefs, savePrefs, openMedia, stopMedia } from "./media.js";
import { h, byId, fill, show, setText, applyStrings, announce, ask, spokenDuration } from "./dom.js";
import { t, errorWords } from "./strings.js";
import { mountLanguageSwitcher } from "./language.js";
import { JoinScreen } from "./join.js";
import { LobbyScreen } from "./lobby.js";
import { CircleScreen } from "./circle.js";
import { Attention } from "./attention.js";

/**
 * @typedef {import("./room.js").View} View
 * @typedef {import("./circle.js").Local} Local
 */

const INVITE_KEY = "hearth.invite";
const KEY_KEY = "hearth.key";
const TEST = new URLSearchParams(location.search).has("test");
const REJOIN_TRIES = 5;
/** How long a lobby arrival waits before it is announced: an admit in the same step cancels it. */
const LOBBY_SETTLE_MS = 400;
const candidateFilter = TEST ? isLoopbackCandidate : null;

/** The per-browser random key `hello` carries, so a `remove` with block can refuse it. */
function browserKey() {
  try {
    let key = localStorage.getItem(KEY_KEY);
    if (!key) {
      key = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(KEY_KEY, key);
    }
    return key;
  } catch {
    return undefined;
  }
}

/** Room id from /r/{room}; token from the fragment (then removed from the address bar). */
function readLink() {
  const match = location.pathname.match(/^\/r\/([A-Za-z0-9_-]{1,128})\/?$/);
  const room = match ? match[1] : "";
  let token = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  try {
    if (room && token) sessionStorage.setItem(INVITE_KEY, JSON.stringify({ room, token }));
    else if (room) {
      const kept = JSON.parse(sessionStorage.getItem(INVITE_KEY) || "null");
      if (kept && kept.room === room) token = kept.token;
    }
  } catch {
    /* no storage: the token lives in memory only */
  }
  return { room, token };
}

/** @param {string} code */
function errorText(code) {
  return (
    {
      bad_token: t("badToken"),
      room_locked: t("roomLocked"),
      not_allowed: t("blocked"),
      rate_limited: t("rateLimited"),
      network: t("networkFailed"),
    }[code] || t("joinFailed")
  );
}

class App {
  constructor() {
    this.main = byId("main");
    this.prefs = loadPrefs(localStorage);
    this.session = new Session({ url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`, store: sessionStorage });
    /** @type {View|null} */
    this.view = null;
    /** @type {MediaStream|null} */
    this.stream = null;
    /** @type {Mesh|null} */
    this.mesh = null;
    /** @type {"none"|"join"|"lobby"|"circle"|"ended"} */
    this.screen = "none";
    /** @type {LobbyScreen|null} */
    this.lobby = null;
    /** @type {CircleScreen|null} */
    this.circle = null;
    this.denied = false;
    /** @type {{name: string}|null} who this page joined as (memory only), to go back in by itself */
    this.joinedAs = null;
    /** @type {View|null} the view of a seat that expired, whose chat the next welcome keeps */
    this.carried = null;
    this.lobbyNote = "";
    /** @type {JoinScreen|null} */
    this.joinScreen = null;
    this.room = "";
    this.token = "";
    this.renderQueued = false;
    this.unread = 0;
    /** @type {{mic: boolean, cam: boolean}|null} what was on before stepping away */
    this.beforeAway = null;
    this.oneMinuteTurn = "";
    /** @type {{from: string, data: any}[]} signals that arrived before the mesh existed */
    this.earlySignals = [];
    this.toast = h("div", { class: "toast", role: "status", "aria-live": "polite", hidden: true });
    document.body.append(this.toast);
    // issue 17: waiting people and support notes never go unseen by a facilitator
    this.attention = new Attention(() => this.circle?.openSide("panel"));
    this.wireSession();
    this.wireChrome();
    setInterval(() => this.tick(), 250);
  }

  // --- start ------------------------------------------------------------------------------

  start() {
    const { room, token } = readLink();
    this.room = room;
    this.token = token;
    if (!room) return this.landing("landingText");
    const seat = savedSeat(sessionStorage, room);
    if (seat) return this.resume(seat);
    if (!token) return this.landing("linkMissing");
    this.showJoin();
  }

  /** @param {string} key */
  landing(key) {
    this.screen = "none";
    fill(this.main, h("div", { class: "screen landing" }, h("section", { class: "card center" }, h("h1", { text: "landingTitle" }), h("p", { class: "lead", text: key }))));
  }

  /** @param {string} [notice] a plain word at the top: why the person is here again */
  showJoin(notice = "") {
    this.screen = "join";
    const join = new JoinScreen({
      room: this.room,
      token: this.token,
      notice,
      prefs: this.prefs,
      store: localStorage,
      candidateFilter,
      onPreview: (p) => this.setCrisis(p.crisis),
      onJoin: (choice) => this.join(choice),
      onStream: (stream) => this.useStream(stream),
    });
    void join.mount(this.main);
    this.joinScreen = join;
  }

  /** @param {import("./join.js").JoinChoice} choice @returns {Promise<string|null>} */
  async join(choice) {
    this.stream = choice.stream;
    try {
      await this.session.join({ room: this.room, token: this.token, name: choice.name, accept: choice.accept, key: browserKey() });
      this.joinedAs = { name: choice.name };
      return null;
    } catch (err) {
      return errorText(err instanceof RequestError ? err.code : "");
    }
  }

  /** @param {import("./protocol.js").Seat} seat */
  async resume(seat) {
    this.screen = "none";
    fill(this.main, h("div", { class: "screen landing" }, h("p", { class: "lead center", text: "connecting" })));
    const opening = openMedia({ audioDevice: this.prefs.audioDevice, videoDevice: this.prefs.videoDevice, video: !this.prefs.audioOnly });
    try {
      await this.session.resumeSeat(seat);
    } catch {
      /* the `ended` event shows why, or the join page when the invite is still known */
    }
    const opened = await opening;
    if (this.session.status !== "open") stopMedia(opened.stream);
    else this.useStream(opened.stream);
  }

  // --- the session ------------------------------------------------------------------------

  wireSession() {
    const s = this.session;
    s.addEventListener("welcome", (e) => this.welcomed(/** @type {CustomEvent} */ (e).detail.frame));
    s.addEventListener("event", (e) => this.event(/** @type {CustomEvent} */ (e).detail.frame));
    s.addEventListener("signal", (e) => {
      const d = /** @type {CustomEvent} */ (e).detail;
      if (this.mesh) void this.mesh.handleSignal(d.from, d.data);
      else if (this.earlySignals.length < 500) this.earlySignals.push(d); // before our welcome
    });
    s.addEventListener("status", (e) => this.status(/** @type {CustomEvent} */ (e).detail.status));
    s.addEventListener("ended", (e) => this.ended(/** @type {CustomEvent} */ (e).detail.reason));
    window.addEventListener("hashchange", () => this.linkChanged());
    window.addEventListener("offline", () => this.banner(t("offline")));
    window.addEventListener("online", () => this.status(this.session.status));
  }

  /** @param {Record<string, any>} frame */
  welcomed(frame) {
    if (frame.resumed && this.view) {
      this.render();
      return;
    }
    const wasLobby = this.view?.state.lobby;
    const carried = this.carried;
    this.carried = null;
    this.view = viewFromWelcome(frame, carried || (this.view && this.view.me === frame.me ? this.view : null));
    if (carried) {
      // Back in through the link after the seat expired: say where, plainly.
      this.lobbyNote = this.view.state.lobby ? t("backInLobby") : "";
      if (this.view.state.lobby) announce(t("backInLobby"), true);
      else this.say(t("backInCircle"));
    }
    this.setCrisis(this.view.state.crisis);
    if (wasLobby && !this.view.state.lobby) announce(t("letIn"), true);
    this.mesh?.setIceServers(this.session.ice, this.session.icePolicy);
    this.render();
  }

  /** @param {Record<string, any>} frame */
  event(frame) {
    const view = this.view;
    if (!view) return;
    const wasNext = nextSpeaker(view) === view.me;
    const happened = applyEvent(view, frame, this.session.now());
    this.react(view, happened, wasNext);
    this.queueRender();
  }

  /**
   * What an event means to this person: announcements, their own media, counters.
   * @param {View} view @param {import("./room.js").Happening} e @param {boolean} wasNext
   */
  react(view, e, wasNext) {
    const me = view.me;
    const fac = isFacilitator(view);
    switch (e.type) {
      case "turn":
        if (e.speaker === me) announce(t("announceYourTurn", { time: spokenDuration(e.seconds) }), true);
        else announce(t("announceTurn", { name: e.name }));
        if (!wasNext && nextSpeaker(view) === me) setTimeout(() => announce(t("announceNext")), 1200);
        break;
      case "round_started":
        announce(t("announceRoundStarted", { kind: t(`kind_${e.kind}`).toLowerCase() }));
        break;
      case "round_ended":
        announce(t("announceRoundEnded"));
        break;
      case "called_on":
        announce(e.member === me ? t("announceYouCalledOn") : t("announceCalledOn", { name: e.name }), e.member === me);
        break;
      case "next_changed":
        // Who is next changed without a turn (a reorder, someone away or back, a departure):
        // heard as on a turn, once, by the person who just became next.
        if (!wasNext && nextSpeaker(view) === me) announce(t("announceNext"));
        break;
      case "time_up":
        if (e.speaker === me) announce(t("announceTimeUp"));
        break;
      case "timer":
        if (e.paused) announce(t("announcePaused"));
        break;
      case "joined_lobby":
        // A returner allowed back passes through the lobby and is admitted in the same step
        // (the next seq, a separate frame): wait a moment and say "waiting" only if they
        // still are, so facilitators hear "X joined" alone.
        if (fac) {
          setTimeout(() => {
            if (this.view?.state.waiting.some((w) => w.id === e.member)) announce(t("announceJoinedLobby", { name: e.name }));
          }, LOBBY_SETTLE_MS);
        }
        break;
      case "admitted":
        if (e.member !== me && !view.state.lobby) announce(t("announceJoined", { name: e.name }));
        break;
      case "left":
        if (e.member !== me && !e.waiting) announce(t("announceLeft", { name: e.name }));
        break;
      case "removed":
        if (e.member !== me && !e.waiting) announce(t("announceRemoved", { name: e.name }));
        this.mesh?.hangUp(e.member);
        break;
      case "denied":
        if (e.member === me) this.denied = true;
        break;
      case "hand_raised":
        if (fac && e.member !== me) announce(t("announceHand", { name: e.name }));
        break;
      case "muted":
        if (e.member === me) {
          this.setMic(false);
          announce(t("announceMuted"), true);
        }
        break;
      case "role_changed":
        if (e.member === me) announce(t(e.role === "facilitator" ? "announceRole" : "announceRoleMember"));
        break;
      case "support":
        // Polite: a note must be heard, but never cut into what a screen reader is saying.
        if (fac) announce(t("noteArrived", { name: e.name }));
        break;
      case "chat":
        if (e.from !== me && this.circle && !this.circle.chat.el.checkVisibility()) this.unread += 1;
        break;
      case "reaction":
        this.circle?.react(e.from, e.emoji);
        break;
      case "away":
        if (e.member === me) this.stepAway(true);
        break;
      case "present":
        if (e.member === me && e.was === "away") this.stepAway(false);
        break;
    }
  }

  /** @param {string} status */
  status(status) {
    if (status === "reconnecting") this.banner(t("reconnecting"));
    else if (status === "open" && !byId("status-banner").hidden) {
      this.banner(t("reconnected"));
      setTimeout(() => {
        if (this.session.status === "open") this.banner("");
      }, 3000);
    } else if (status === "connecting") this.banner("");
    else if (status === "ended" || status === "idle") this.banner("");
  }

  /** @param {string} text */
  banner(text) {
    const el = byId("status-banner");
    setText(el, text);
    show(el, !!text);
    el.classList.toggle("warning", text === t("reconnecting") || text === t("offline"));
  }

  /**
   * The seat expired (past the grace period, or a restart lost the meeting) but the link is
   * still known: go back in through it. With the name from this page's memory that happens
   * by itself; after a reload (no name kept) the join page says what happened.
   */
  async rejoin() {
    this.mesh?.close();
    this.mesh = null;
    this.earlySignals = [];
    const name = this.joinedAs?.name;
    if (!name) {
      stopMedia(this.stream);
      this.stream = null;
      this.view = null;
      this.circle = null;
      this.lobby = null;
      this.showJoin(t("expiredJoinAgain"));
      return;
    }
    this.carried = this.view; // the chat already read stays on screen
    let code = "";
    for (let attempt = 0; attempt < REJOIN_TRIES; attempt++) {
      const joining = this.session.join({ room: this.room, token: this.token, name, accept: true, key: browserKey() });
      this.banner(t("rejoining"));
      try {
        await joining;
        this.banner("");
        return;
      } catch (err) {
        code = err instanceof RequestError ? err.code : "";
        if (!["network", "unavailable", "rate_limited"].includes(code)) break;
        await new Promise((r) => setTimeout(r, 1000 * (attempt + 1)));
      }
    }
    // The link itself no longer works (rotated, locked room, blocked): say why, plainly.
    this.carried = null;
    this.banner("");
    stopMedia(this.stream);
    this.stream = null;
    this.view = null;
    this.circle = null;
    this.lobby = null;
    this.showJoin(errorText(code));
  }

  /** The same tab opened an invite link again: only the fragment changed. */
  linkChanged() {
    if (!location.hash) return;
    const live = ["open", "connecting", "reconnecting"].includes(this.session.status);
    const { room, token } = readLink();
    if (!token) return;
    if (live && room === this.room) {
      // Keep the link this seat came in by: a stale one opened by mistake must not replace it.
      try {
        sessionStorage.setItem(INVITE_KEY, JSON.stringify({ room: this.room, token: this.token }));
      } catch {
        /* not kept */
      }
      this.say(t("alreadyHere"));
      return;
    }
    this.joinScreen?.dispose();
    stopMedia(this.stream);
    this.stream = null;
    this.room = room;
    this.token = token;
    this.showJoin();
  }

  /** @param {string} reason */
  ended(reason) {
    if (reason === "expired" && this.token) {
      void this.rejoin();
      return;
    }
    const why = reason === "removed" && this.denied ? "denied" : reason;
    this.mesh?.close();
    this.mesh = null;
    stopMedia(this.stream);
    this.stream = null;
    this.screen = "ended";
    this.circle = null;
    this.lobby = null;
    const keys = {
      ended: ["endedTitle", "endedText"],
      removed: ["removedTitle", "removedText"],
      denied: ["deniedTitle", "deniedText"],
      left: ["leftTitle", "leftText"],
      replaced: ["replacedTitle", "replacedText"],
      expired: ["expiredTitle", "expiredText"],
    }[why] || ["closedTitle", "closedText"];
    const crisis = this.view?.state.crisis || "";
    fill(
      this.main,
      h(
        "div",
        { class: "screen ended-screen", id: "screen-ended", "data-reason": why },
        h(
          "section",
          { class: "card center" },
          h("h1", { text: keys[0], tabindex: "-1", id: "ended-title" }),
          h("p", { class: "lead", text: keys[1] }),
          crisis ? h("p", { class: "preserve-lines quiet" }, crisis) : null,
        ),
      ),
    );
    byId("ended-title").focus();
  }

  // --- local media --------------------------------------------------------------------------

  /** @returns {Local} */
  local() {
    const mic = this.stream?.getAudioTracks()[0];
    const cam = this.stream?.getVideoTracks()[0];
    return {
      micOn: !!mic && mic.enabled,
      camOn: !!cam && cam.enabled && cam.readyState === "live" && !this.prefs.audioOnly,
      hasMic: !!mic,
      hasCam: !!cam,
      audioOnly: this.prefs.audioOnly,
      receiveVideo: this.prefs.receiveVideo,
      countdown: this.prefs.countdown,
    };
  }

  /** The camera and microphone to send (they may open after joining). @param {MediaStream|null} stream */
  useStream(stream) {
    this.stream = stream;
    if (this.mesh) {
      this.mesh.setSendVideo(!this.prefs.audioOnly && !!stream?.getVideoTracks()[0]?.enabled);
      this.mesh.setLocalStream(stream);
    }
    this.queueRender();
  }

  /** @param {boolean} on */
  setMic(on) {
    const mic = this.stream?.getAudioTracks()[0];
    if (mic) mic.enabled = on;
    this.queueRender();
  }

  toggleMic() {
    const me = this.view && memberOf(this.view, this.view.me);
    const mic = this.stream?.getAudioTracks()[0];
    if (!mic) return;
    if (!mic.enabled && me?.muted) {
      void this.command("unmute").then((ok) => ok && this.setMic(true));
      return;
    }
    this.setMic(!mic.enabled);
  }

  toggleCamera() {
    const cam = this.stream?.getVideoTracks()[0];
    if (!cam) return;
    cam.enabled = !cam.enabled;
    this.mesh?.setSendVideo(cam.enabled && !this.prefs.audioOnly);
    this.queueRender();
  }

  /** @param {boolean} on */
  async setAudioOnly(on) {
    this.prefs.audioOnly = on;
    savePrefs(localStorage, this.prefs);
    const cam = this.stream?.getVideoTracks()[0];
    if (on && cam) {
      cam.stop();
      this.stream?.removeTrack(cam);
    }
    if (!on && !cam) {
      const opened = await openMedia({ videoDevice: this.prefs.videoDevice, audioDevice: this.prefs.audioDevice, video: true });
      const video = opened.stream?.getVideoTracks()[0];
      for (const tr of opened.stream?.getAudioTracks() || []) tr.stop();
      if (video) {
        if (this.stream) this.stream.addTrack(video);
        else this.stream = new MediaStream([video]);
      }
    }
    this.mesh?.setSendVideo(!on);
    this.mesh?.setLocalStream(this.stream);
    this.queueRender();
  }

  /** @param {boolean} on */
  setReceiveVideo(on) {
    this.prefs.receiveVideo = on;
    savePrefs(localStorage, this.prefs);
    this.mesh?.setReceiveVideo(on);
    this.queueRender();
  }

  /** @param {"everyone"|"speaker"} who */
  setCountdown(who) {
    this.prefs.countdown = who;
    savePrefs(localStorage, this.prefs);
    this.queueRender();
  }

  /** Camera and microphone off while away, back as they were after. @param {boolean} away */
  stepAway(away) {
    const mic = this.stream?.getAudioTracks()[0];
    const cam = this.stream?.getVideoTracks()[0];
    if (away) {
      this.beforeAway = { mic: !!mic?.enabled, cam: !!cam?.enabled };
      if (mic) mic.enabled = false;
      if (cam) cam.enabled = false;
      this.mesh?.setSendVideo(false);
    } else if (this.beforeAway) {
      if (mic) mic.enabled = this.beforeAway.mic;
      if (cam) cam.enabled = this.beforeAway.cam;
      this.mesh?.setSendVideo(this.beforeAway.cam && !this.prefs.audioOnly);
      this.beforeAway = null;
    }
    this.queueRender();
  }

  // --- actions ------------------------------------------------------------------------------

  /** Send an op; show a calm message when refused. @param {string} op @param {Record<string, any>} [args] */
  async command(op, args) {
    try {
      await this.session.command(op, args);
      return true;
    } catch (err) {
      const code = err instanceof RequestError ? err.code : "";
      this.say(errorWords(code));
      return false;
    }
  }

  /** @param {string} text */
  async chat(text) {
    try {
      await this.session.chat(text);
      return true;
    } catch {
      return false;
    }
  }

  /** A short message that fades. @param {string} text */
  say(text) {
    setText(this.toast, text);
    show(this.toast, true);
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => show(this.toast, false), 4000);
  }

  async support() {
    const text = h("textarea", { id: "support-text", rows: "4", maxlength: "1000", placeholder: t("supportPlaceholder"), "aria-label": t("supportTitle") });
    const choice = await ask({
      title: t("supportTitle"),
      body: [h("p", { text: "supportText" }), text],
      buttons: [
        { text: t("cancel"), value: "" },
        { text: t("send"), value: "send", kind: "primary" },
      ],
    });
    const note = text.value.trim();
    if (choice === "send" && note && (await this.command("support", { text: note }))) this.say(t("supportSent"));
  }

  async leave() {
    const choice = await ask({
      title: t("leaveConfirmTitle"),
      body: [h("p", { text: "leaveConfirmText" })],
      buttons: [
        { text: t("cancel"), value: "" },
        { text: t("leaveConfirm"), value: "leave", kind: "danger" },
      ],
    });
    if (choice === "leave") await this.session.leave().catch(() => {});
  }

  // --- drawing ------------------------------------------------------------------------------

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    setTimeout(() => {
      this.renderQueued = false;
      this.render();
    }, 0);
  }

  render() {
    const view = this.view;
    if (!view || this.screen === "ended") return;
    if (view.state.lobby) {
      if (this.screen !== "lobby") {
        this.screen = "lobby";
        this.circle = null; // back from the circle (a seat that expired): that screen is gone
        this.lobby = new LobbyScreen({ onSupport: () => void this.support(), onLeave: () => void this.leave() });
        this.lobby.mount(this.main, this.stream);
        this.lobby.note(this.lobbyNote);
        this.lobbyNote = "";
      }
      this.lobby?.update(view);
      return;
    }
    if (this.screen !== "circle") {
      this.screen = "circle";
      this.lobby = null;
      this.circle = new CircleScreen({
        command: (op, args) => this.command(op, args),
        chat: (text) => this.chat(text),
        react: (emoji) => this.session.react(emoji),
        toggleMic: () => this.toggleMic(),
        toggleCamera: () => this.toggleCamera(),
        setAudioOnly: (on) => void this.setAudioOnly(on),
        setReceiveVideo: (on) => this.setReceiveVideo(on),
        setCountdown: (who) => this.setCountdown(who),
        support: () => void this.support(),
        leave: () => void this.leave(),
        now: () => this.session.now(),
        streamOf: (id) => this.mesh?.streamOf(id) || null,
        localStream: () => this.stream,
      });
      this.circle.mount(this.main);
      this.circle.chatButton.addEventListener("click", () => {
        this.unread = 0;
        this.queueRender();
      });
    }
    this.updateMesh(view);
    this.circle?.update(view, this.local());
    this.attention.update(this.screen === "circle" ? view : null);
    const chatLabel = this.circle?.chatButton.querySelector(".control-label");
    if (chatLabel) setText(chatLabel, this.unread ? `${t("chat")} (${this.unread})` : t("chat"));
  }

  /** @param {View} view */
  updateMesh(view) {
    if (!this.mesh || this.mesh.me !== view.me) {
      this.mesh?.close();
      const mesh = new Mesh({ me: view.me, iceServers: this.session.ice, iceTransportPolicy: this.session.icePolicy, sendSignal: (to, data) => this.session.signal(to, data), candidateFilter });
      mesh.setReceiveVideo(this.prefs.receiveVideo);
      mesh.setSendVideo(!this.prefs.audioOnly && !!this.stream?.getVideoTracks()[0]?.enabled);
      mesh.setLocalStream(this.stream);
      /** @type {WeakSet<MediaStreamTrack>} */
      const seen = new WeakSet();
      mesh.addEventListener("track", (e) => {
        for (const track of /** @type {CustomEvent} */ (e).detail.stream.getTracks()) {
          if (seen.has(track)) continue;
          seen.add(track);
          track.addEventListener("mute", () => this.queueRender());
          track.addEventListener("unmute", () => this.queueRender());
        }
        this.queueRender();
      });
      this.mesh = mesh;
      for (const d of this.earlySignals.splice(0)) void mesh.handleSignal(d.from, d.data);
    }
    this.mesh.sync(view.state.members.map((m) => m.id));
    const speaker = speakerOf(view);
    this.mesh.setProfile(videoProfile({ speaking: speaker === view.me, someoneSpeaking: !!speaker, circleSize: view.state.members.length }));
  }

  tick() {
    // The panel may have been opened or closed, or the circle left, since the last render.
    this.attention.update(this.circle && this.screen === "circle" ? this.view : null);
    const view = this.view;
    if (!view || !this.circle) return;
    const now = this.session.now();
    this.circle.tick(now);
    const round = view.state.round;
    if (round && round.speaker === view.me && round.deadline && !round.paused && round.turn_id && this.oneMinuteTurn !== round.turn_id) {
      const left = round.deadline - now;
      if (left <= 60 && left > 55 && round.seconds > 90) {
        this.oneMinuteTurn = round.turn_id;
        announce(t("announceOneMinute"));
      }
    }
  }

  // --- the page's frame ---------------------------------------------------------------------

  /** @param {string} text */
  setCrisis(text) {
    setText(byId("crisis-group"), text || "");
    show(byId("crisis-group-wrap"), !!text);
  }

  wireChrome() {
    applyStrings(document);
    const dialog = /** @type {HTMLDialogElement} */ (byId("crisis-dialog"));
    byId("crisis-open").addEventListener("click", () => dialog.showModal());
    this.labelChrome();
    mountLanguageSwitcher(() => this.relanguage());
  }

  labelChrome() {
    const mark = byId("not-recorded");
    mark.setAttribute("title", t("notRecordedLong"));
    mark.setAttribute("aria-label", t("notRecordedLong"));
  }

  /**
   * After a language switch (`data-s` nodes are relabelled already): the join page's lines
   * drawn from data; the lobby or circle built anew, as all they show lives in the view.
   */
  relanguage() {
    this.labelChrome();
    if (this.screen === "join") this.joinScreen?.relabel();
    else if (this.screen === "lobby" || this.screen === "circle") {
      this.screen = "none";
      this.render();
    }
  }
}

const app = new App();
app.start();

if (TEST) {
  /** @type {any} */ (window).hearthTest = {
    app,
    session: app.session,
    drop: (/** @type {number} */ holdMs) => app.session.dropForTest(holdMs),
    status: () => app.session.status,
    me: () => app.session.me,
    view: () => app.view,
    stats: () => (app.mesh ? app.mesh.stats() : Promise.resolve({})),
    peers: () => (app.mesh ? [...app.mesh.peers.keys()] : []),
  };
}
