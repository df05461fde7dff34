// The faces of the circle: one tile per person in circle order, and the stage where the
// person holding the talking piece is shown large with a gentle countdown ring.
//
// Video elements are made once per person and kept across renders (re-creating them would
// flicker and restart playback). Sound plays through one hidden <audio> per person, so the
// videos can stay muted and always autoplay.
//
// Layout: the tiles are a gallery sized to the space left to them and the number of people
// (`gridFor`). With a speaker (or someone holding the floor) the stage comes first, as large
// as the stylesheet lets it be (a share of the window's height), and the others share what
// is left: a row under it on a desktop, a few small rows on a phone; the speaker's own tile
// is hidden meanwhile (the stage is their tile). The gallery's box never depends on its
// content (the stylesheet flexes it to the screen) and the layout sets sizes inside it only,
// so the ResizeObserver that re-runs the layout can never feed itself.

import { h, fill, setText, show, clock, initials, pausedText } from "./dom.js";
import { t } from "./strings.js";
import { memberOf, nameOf, nextSpeaker, secondsLeft, speakerOf } from "./room.js";

/** @typedef {import("./room.js").View} View */

/** Tile shapes the layout may choose, wide first: a wider tile wins a tie. */
const ASPECTS = [16 / 9, 4 / 3];
/** A 4:3 shape is taken only when it gives this much more area than 16:9 (a calm, steady grid). */
const NARROWER_GAIN = 1.08;
/** Below this width (px) a gallery tile stops shrinking and the gallery scrolls instead. */
const MIN_TILE_W = 96;

/**
 * The gallery for `count` tiles in a `width` x `height` box with `gap` between tiles: the
 * number of columns and the tile size (whole pixels) that give each tile the largest area,
 * every tile the same shape. Below MIN_TILE_W tiles keep that width and the box scrolls.
 * @param {number} count @param {number} width @param {number} height @param {number} gap
 * @returns {{cols: number, rows: number, w: number, h: number}}
 */
export function gridFor(count, width, height, gap) {
  const n = Math.max(1, count);
  let best = { cols: 1, rows: n, w: 0, h: 0 };
  let bestArea = 0;
  for (const aspect of ASPECTS) {
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = Math.floor(Math.min((width - gap * (cols - 1)) / cols, ((height - gap * (rows - 1)) / rows) * aspect));
      const area = (w * w) / aspect;
      const needed = aspect === ASPECTS[0] ? bestArea : bestArea * NARROWER_GAIN;
      if (w > 0 && area > needed) {
        best = { cols, rows, w, h: Math.floor(w / aspect) };
        bestArea = area;
      }
    }
  }
  if (best.w < MIN_TILE_W) {
    const cols = Math.max(1, Math.min(n, Math.floor((width + gap) / (MIN_TILE_W + gap))));
    const w = Math.max(1, Math.floor((width - gap * (cols - 1)) / cols));
    best = { cols, rows: Math.ceil(n / cols), w, h: Math.floor(w / ASPECTS[0]) };
  }
  return best;
}

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
    this.stageReactions = h("span", { class: "reactions", "aria-hidden": "true" });
    this.stageTile = h("div", { class: "stage-tile" }, this.stageVideo, this.stageAvatar, this.stageReactions, h("div", { class: "stage-caption" }, this.stageName, this.stageNote), this.ring);
    this.stageEmpty = h("p", { class: "stage-empty" });
    this.stage = h("section", { class: "stage", id: "stage", "aria-label": t("stageLabel") }, this.stageTile, this.stageEmpty);
    /** @type {string|null} */
    this.stageMember = null;
    /** @type {HTMLElement|null} the circle's column, observed once it holds the stage */
    this.column = null;
    // The border box: the padding `layout` sets inside it must not count as a resize.
    this.resizes = new ResizeObserver(() => this.layout());
    this.resizes.observe(this.list, { box: "border-box" });
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
      tile.li.classList.toggle("on-stage", id === speaker);
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
    this.layout();
  }

  /**
   * Size the gallery to the space it has now. Cheap, and called on every
   * update (the count or the mode may have changed) and by the ResizeObserver.
   */
  layout() {
    const list = this.list;
    list.classList.toggle("beside-stage", !!this.stageMember);
    this.fitStage();
    const count = [...list.children].filter((li) => !li.classList.contains("on-stage")).length;
    const width = list.offsetWidth;
    const height = list.offsetHeight;
    if (!count || !width || !height) return;
    const gap = parseFloat(getComputedStyle(list).columnGap) || 0;
    const grid = gridFor(count, width, height, gap);
    // Padding centres exactly `cols` tiles per line; the last line is centred by the flexbox.
    // Alone the gallery is centred in its space; beside the stage it sits just under it.
    const side = Math.max(0, Math.floor((width - grid.cols * grid.w - (grid.cols - 1) * gap) / 2));
    const spare = height - grid.rows * grid.h - (grid.rows - 1) * gap;
    const top = this.stageMember ? 0 : Math.max(0, Math.floor(spare / 2));
    list.style.padding = `${top}px ${side}px 0`;
    list.style.setProperty("--tile-w", `${grid.w}px`);
    list.style.setProperty("--tile-h", `${grid.h}px`);
  }

  /**
   * Cap the stage's height so the others keep a share of the circle's column: the column's
   * height (a grid cell, whatever its content) less the rows above and below that are not
   * the stage or the gallery (banners, the turn buttons), whose heights do not depend on it.
   */
  fitStage() {
    /** @type {HTMLElement|null} */
    const column = this.stage.parentElement;
    if (!column || !this.stageMember) return;
    if (this.column !== column) {
      this.column = column;
      this.resizes.observe(column);
    }
    const margins = (/** @type {Element} */ el) => {
      const style = getComputedStyle(el);
      return parseFloat(style.marginTop) + parseFloat(style.marginBottom);
    };
    let room = column.clientHeight - parseFloat(getComputedStyle(column).paddingTop) - parseFloat(getComputedStyle(column).paddingBottom);
    for (const row of column.children) {
      if (row.contains(this.list) || !row.getClientRects().length) continue;
      room -= row === this.stage ? margins(row) : row.getBoundingClientRect().height + margins(row);
    }
    // The others need at least their smallest tiles' rows (see gridFor), up to half the room.
    const gap = parseFloat(getComputedStyle(this.list).columnGap) || 0;
    const count = [...this.list.children].filter((li) => !li.classList.contains("on-stage")).length;
    const width = this.list.offsetWidth || column.clientWidth;
    const cols = Math.max(1, Math.floor((width + gap) / (MIN_TILE_W + gap)));
    const rows = Math.ceil(Math.max(1, count) / cols);
    const smallest = Math.floor(Math.floor((width - gap * (cols - 1)) / cols) / ASPECTS[0]);
    const need = rows * smallest + (rows - 1) * gap + 4;
    const others = Math.min(room * 0.5, Math.max(80, Math.min(160, room * 0.25), need));
    this.stage.style.setProperty("--stage-max-h", `${Math.floor(Math.max(120, room - others))}px`);
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
      audio.play().catch((/** @type {unknown} */ err) => {
        // Only a NotAllowedError means the browser wants a tap first. An AbortError is
        // harmless: the stream was replaced (a reload or a rejoin reconnects) and the newer
        // play() takes over; taking it for blocked sound asked people for a needless tap.
        if (err instanceof DOMException && err.name === "NotAllowedError") this.deps.onSoundBlocked();
      });
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
    // In open conversation the round line already says so: no stage at all, the gallery
    // takes the space. Between turns of a round, one quiet line says why nobody is shown.
    show(this.stage, !!speaker || !!s.round);
    this.stage.classList.toggle("has-speaker", !!speaker);
    if (!speaker) {
      this.stageMember = null;
      this.attach(this.stageVideo, null);
      setText(this.stageEmpty, s.round ? (s.held ? t("held") : t("waitingForTurn")) : "");
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
      setText(this.stageNote, round?.paused ? pausedText(round) : "");
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
    // Past the deadline with no overtime nothing will move the piece: no count up, just 0:00
    // (the stage note says "Time's up"), so the speaker is not pressed by a clock.
    const shown = round.overtime == null ? Math.max(0, left) : left;
    setText(this.ringText, round.paused ? "❚❚" : clock(shown));
    setText(this.ringSr, round.paused ? pausedText(round) : t("timeLeft", { time: clock(Math.max(0, left)) }));
    setText(this.stageNote, round.paused ? pausedText(round) : phase === "over" ? t("timeUp") : "");
  }

  /** Float a reaction over someone's tile for a moment. @param {string} member @param {string} emoji */
  react(member, emoji) {
    const tile = this.tiles.get(member);
    if (!tile) return;
    // The speaker's own tile is hidden while they are on the stage: reactions float there.
    const layer = member === this.stageMember ? this.stageReactions : tile.reactions;
    const bubble = h("span", { class: "reaction" }, emoji);
    layer.append(bubble);
    setTimeout(() => bubble.remove(), 2600);
  }
}
