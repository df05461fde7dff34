// The faces of the circle: one tile per person in circle order, and the stage where the
// person holding the talking piece is shown large with a gentle countdown ring.
//
// Video elements are made once per person and kept across renders (re-creating them would
// flicker and restart playback). Sound plays through one hidden <audio> per person, so the
// videos can stay muted and always autoplay.

import { h, fill, setText, show, clock, initials } from "./dom.js";
import { t } from "./strings.js";
import { memberOf, nameOf, nextSpeaker, secondsLeft, speakerOf } from "./room.js";

/** @typedef {import("./room.js").View} View */

const RING_R = 45;
const RING_C = 2 * Math.PI * RING_R;
const SVG = "http://www.w3.org/2000/svg";

/** @param {string} tag @param {Record<string, string>} attrs */
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/**
 * @typedef {{li: HTMLLIElement, video: HTMLVideoElement, avatar: HTMLElement, name: HTMLElement,
 *   badges: HTMLElement, reactions: HTMLElement}} Tile
 */

export class Tiles {
  /**
   * @param {{streamOf: (id: string) => MediaStream|null, localStream: () => MediaStream|null,
   *   onSoundBlocked: () => void}} deps
   */
  constructor(deps) {
    this.deps = deps;
    /** @type {Map<string, Tile>} */
    this.tiles = new Map();
    /** @type {Map<string, HTMLAudioElement>} */
    this.audios = new Map();
    this.list = h("ul", { class: "tiles", id: "tiles" });
    this.sound = h("div", { class: "sound", hidden: true });

    this.stageVideo = h("video", { class: "stage-video", autoplay: true, muted: true, playsinline: true });
    this.stageVideo.muted = true;
    this.stageAvatar = h("div", { class: "avatar big", "aria-hidden": "true" });
    this.stageName = h("p", { class: "stage-name", id: "stage-name" });
    this.stageNote = h("p", { class: "stage-note" });
    this.ringArc = svg("circle", { class: "ring-arc", cx: "50", cy: "50", r: String(RING_R), "stroke-dasharray": String(RING_C) });
    const ringSvg = svg("svg", { viewBox: "0 0 100 100", "aria-hidden": "true", focusable: "false" });
    ringSvg.append(svg("circle", { class: "ring-track", cx: "50", cy: "50", r: String(RING_R) }), this.ringArc);
    this.ringText = h("span", { class: "ring-text", "aria-hidden": "true" });
    this.ringSr = h("span", { class: "sr-only" });
    this.ring = h("div", { class: "ring calm", id: "countdown", role: "timer", "aria-live": "off", "aria-label": t("timerLabel") }, ringSvg, this.ringText, this.ringSr);
    this.stageTile = h("div", { class: "stage-tile" }, this.stageVideo, this.stageAvatar, h("div", { class: "stage-caption" }, this.stageName, this.stageNote), this.ring);
    this.stageEmpty = h("p", { class: "stage-empty" });
    this.stage = h("section", { class: "stage", id: "stage", "aria-label": t("stageLabel") }, this.stageTile, this.stageEmpty);
    /** @type {string|null} */
    this.stageMember = null;
  }

  /** @param {View} view @param {{camOn: boolean, countdown: string}} local */
  update(view, local) {
    this.view = view;
    this.local = local;
    const s = view.state;
    const ordered = [...s.order.filter((id) => memberOf(view, id)), ...s.members.map((m) => m.id).filter((id) => !s.order.includes(id))];
    const next = nextSpeaker(view);
    const speaker = speakerOf(view);
    for (const id of [...this.tiles.keys()]) {
      if (!ordered.includes(id)) {
        this.tiles.get(id)?.li.remove();
        this.tiles.delete(id);
      }
    }
    for (const id of [...this.audios.keys()]) {
      if (!ordered.includes(id) || id === view.me) {
        this.audios.get(id)?.remove();
        this.audios.delete(id);
      }
    }
    ordered.forEach((id, index) => {
      const tile = this.tiles.get(id) || this.makeTile(id);
      const m = memberOf(view, id);
      if (!m) return;
      const mine = id === view.me;
      setText(tile.name, mine ? t("youSuffix", { name: m.name }) : m.name);
      setText(tile.avatar, initials(m.name));
      tile.li.classList.toggle("speaking", id === speaker);
      tile.li.classList.toggle("away", m.away || m.reconnecting);
      tile.li.dataset.member = id;
      const hand = s.hands.indexOf(id);
      /** @type {[boolean, string, string][]} */
      const badges = [
        [id === speaker, "speaking", t("badgeSpeaking")],
        [id === next, "next", t("badgeNext")],
        [hand >= 0, "hand", hand >= 0 ? t("badgeHandShort", { n: hand + 1 }) : ""],
        [m.role === "facilitator", "facilitator", t("badgeFacilitator")],
        [m.muted, "muted", t("badgeMuted")],
        [m.away, "away", t("badgeAway")],
        [m.reconnecting, "reconnecting", t("badgeReconnecting")],
        [!!s.round && s.round.passed.includes(id) && id !== speaker, "passed", t("badgePassed")],
      ];
      fill(tile.badges, badges.filter(([on]) => on).map(([, kind, text]) => h("span", { class: `badge ${kind}`, title: kind === "hand" ? t("badgeHandN", { n: hand + 1 }) : undefined }, text)));
      const labelParts = [mine ? t("youSuffix", { name: m.name }) : m.name, ...badges.filter(([on]) => on).map(([, kind, text]) => (kind === "hand" ? t("badgeHandN", { n: hand + 1 }) : text))];
      tile.li.setAttribute("aria-label", labelParts.join(", "));
      const stream = mine ? this.deps.localStream() : this.deps.streamOf(id);
      const hasVideo = mine ? local.camOn && !!stream?.getVideoTracks().length : this.liveVideo(stream);
      this.attach(tile.video, hasVideo ? stream : null);
      show(tile.video, hasVideo);
      show(tile.avatar, !hasVideo);
      tile.video.classList.toggle("mirrored", mine);
      if (!mine) this.attachAudio(id, stream);
      if (this.list.children[index] !== tile.li) this.list.insertBefore(tile.li, this.list.children[index] || null);
    });
    this.updateStage(view, speaker);
    this.tick(0);
  }

  /** @param {MediaStream|null} stream */
  liveVideo(stream) {
    const v = stream?.getVideoTracks()[0];
    return !!v && v.readyState === "live" && !v.muted;
  }

  /** @param {string} id */
  makeTile(id) {
    const video = h("video", { autoplay: true, muted: true, playsinline: true, class: "tile-video" });
    video.muted = true;
    const avatar = h("div", { class: "avatar", "aria-hidden": "true" });
    const name = h("span", { class: "tile-name", "aria-hidden": "true" });
    const badges = h("span", { class: "badges", "aria-hidden": "true" });
    const reactions = h("span", { class: "reactions", "aria-hidden": "true" });
    const li = h("li", { class: "tile", tabindex: "0" }, video, avatar, reactions, h("span", { class: "tile-caption" }, name, badges));
    /** @type {Tile} */
    const tile = { li, video, avatar, name, badges, reactions };
    this.tiles.set(id, tile);
    return tile;
  }

  /** @param {HTMLVideoElement} video @param {MediaStream|null} stream */
  attach(video, stream) {
    if (video.srcObject !== stream) {
      video.srcObject = stream;
      if (stream) video.play().catch(() => {});
    }
  }

  /** @param {string} id @param {MediaStream|null} stream */
  attachAudio(id, stream) {
    let audio = this.audios.get(id);
    if (!audio) {
      audio = h("audio", { autoplay: true });
      this.audios.set(id, audio);
      this.sound.append(audio);
    }
    if (stream && audio.srcObject !== stream) {
      audio.srcObject = stream;
      audio.play().catch(() => this.deps.onSoundBlocked());
    }
  }

  /** Try again to play sound (after a tap that allows it). */
  resumeSound() {
    for (const a of this.audios.values()) a.play().catch(() => {});
  }

  /** @param {View} view @param {string|null} speaker */
  updateStage(view, speaker) {
    const s = view.state;
    show(this.stageTile, !!speaker);
    show(this.stageEmpty, !speaker);
    this.stage.classList.toggle("has-speaker", !!speaker);
    if (!speaker) {
      this.stageMember = null;
      this.attach(this.stageVideo, null);
      setText(this.stageEmpty, s.round ? (s.held ? t("held") : t("waitingForTurn")) : t("openConversation"));
      return;
    }
    this.stageMember = speaker;
    const mine = speaker === view.me;
    const name = nameOf(view, speaker);
    const byRound = s.round?.speaker === speaker;
    setText(this.stageName, byRound ? (mine ? t("youSpeaking") : t("speaking", { name })) : mine ? t("youHaveFloor") : t("hasFloor", { name }));
    setText(this.stageAvatar, initials(name));
    const stream = mine ? this.deps.localStream() : this.deps.streamOf(speaker);
    const hasVideo = mine ? !!this.local?.camOn && !!stream?.getVideoTracks().length : this.liveVideo(stream);
    this.attach(this.stageVideo, hasVideo ? stream : null);
    show(this.stageVideo, hasVideo);
    show(this.stageAvatar, !hasVideo);
    this.stageVideo.classList.toggle("mirrored", mine);
  }

  /**
   * Redraw the countdown from the deadline and the server clock.
   * @param {number} now server time (0: use the last)
   */
  tick(now) {
    if (now) this.now = now;
    const view = this.view;
    if (!view) return;
    const round = view.state.round;
    const left = secondsLeft(round, this.now || 0);
    const me = view.me;
    const visible =
      left !== null &&
      !!round &&
      (this.local?.countdown !== "speaker" || round.speaker === me || view.role === "facilitator");
    show(this.ring, visible);
    if (!visible || left === null || !round) {
      setText(this.stageNote, round?.paused ? t("paused") : "");
      return;
    }
    const total = Math.max(1, round.seconds);
    const fraction = Math.max(0, Math.min(1, left / total));
    this.ringArc.setAttribute("stroke-dashoffset", String(RING_C * (1 - fraction)));
    const phase = left <= 0 || round.time_up ? "over" : left <= 60 ? "last-minute" : "calm";
    if (!this.ring.classList.contains(phase)) {
      this.ring.classList.remove("calm", "last-minute", "over");
      this.ring.classList.add(phase);
      this.stageTile.dataset.phase = phase;
    }
    setText(this.ringText, round.paused ? "❚❚" : clock(left));
    setText(this.ringSr, round.paused ? t("paused") : t("timeLeft", { time: clock(Math.max(0, left)) }));
    setText(this.stageNote, round.paused ? t("paused") : phase === "over" ? t("timeUp") : "");
  }

  /** Float a reaction over someone's tile for a moment. @param {string} member @param {string} emoji */
  react(member, emoji) {
    const tile = this.tiles.get(member);
    if (!tile) return;
    const bubble = h("span", { class: "reaction" }, emoji);
    tile.reactions.append(bubble);
    setTimeout(() => bubble.remove(), 2600);
  }
}
