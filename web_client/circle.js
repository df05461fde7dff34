// The circle: the stage and the tiles, what the person may do now, chat, and (for
// facilitators) the panel. The control bar is always at hand; on a phone, chat and the
// panel open as sheets over the circle, on a desktop they sit beside it.

import { h, fill, setText, show } from "./dom.js";
import { t } from "./strings.js";
import { offerLanguages } from "./language.js";
import { Tiles } from "./tiles.js";
import { icon } from "./icons.js";
import { ChatPanel } from "./chat.js";
import { FacilitatorPanel } from "./panel.js";
import { isFacilitator, memberOf, nextSpeaker } from "./room.js";

/**
 * @typedef {import("./room.js").View} View
 * @typedef {{micOn: boolean, camOn: boolean, hasCam: boolean, hasMic: boolean, audioOnly: boolean,
 *   receiveVideo: boolean, countdown: "everyone"|"speaker"}} Local
 * @typedef {{
 *   command: (op: string, args?: Record<string, any>) => Promise<boolean>,
 *   chat: (text: string) => Promise<boolean>,
 *   react: (emoji: string) => void,
 *   toggleMic: () => void, toggleCamera: () => void,
 *   setAudioOnly: (on: boolean) => void, setReceiveVideo: (on: boolean) => void,
 *   setCountdown: (who: "everyone"|"speaker") => void,
 *   support: () => void, leave: () => void, now: () => number,
 *   streamOf: (id: string) => MediaStream|null, localStream: () => MediaStream|null}} CircleActions
 */

export const EMOJI = ["❤️", "👏", "🙏", "🤗", "💪", "😢", "🌱", "✨"];

/**
 * @param {string} id @param {string} iconName @param {string} labelKey @param {() => void} onClick
 * @param {Record<string, any>} [extra]
 */
function control(id, iconName, labelKey, onClick, extra = {}) {
  // Two labels, one shown: the short one where the long one would not fit on one line (the
  // stylesheet switches); the hidden one is left out of the accessible name.
  return h(
    "button",
    { type: "button", id, class: "control", on: { click: onClick }, ...extra },
    h("span", { class: "control-icon", "aria-hidden": "true" }, icon(iconName)),
    h("span", { class: "control-label" }, h("span", { class: "long" }, t(labelKey)), h("span", { class: "short" }, t(`${labelKey}Short`))),
  );
}

/** Change a control's label (both lengths). @param {HTMLElement} button @param {string} labelKey */
function setLabel(button, labelKey) {
  const [long, short] = button.querySelectorAll(".control-label > span");
  setText(long, t(labelKey));
  setText(short, t(`${labelKey}Short`));
}

export class CircleScreen {
  /** @param {CircleActions} actions */
  constructor(actions) {
    this.a = actions;
    this.tiles = new Tiles({ streamOf: actions.streamOf, localStream: actions.localStream, onSoundBlocked: () => show(this.soundButton, true) });
    this.chat = new ChatPanel({ send: actions.chat });
    /** @type {FacilitatorPanel|null} */
    this.panel = null;
    this.side = "chat";
    this.build();
  }

  build() {
    const a = this.a;
    this.roundLine = h("p", { class: "round-line", id: "round-line" });
    this.topic = h("p", { class: "topic", id: "topic" });
    this.locked = h("span", { class: "badge locked", hidden: true, text: "roomLockedBadge" });
    this.banner = h("div", { class: "turn-banner", id: "turn-banner", hidden: true });
    this.muteBanner = h(
      "div",
      { class: "notice-banner", id: "mute-banner", hidden: true },
      h("span", { text: "mutedByFacilitator" }),
      h("button", { type: "button", class: "secondary small", text: "unmute", on: { click: () => a.command("unmute").then(() => a.toggleMic()) } }),
    );
    this.awayBanner = h(
      "div",
      { class: "notice-banner", id: "away-banner", hidden: true },
      h("span", { text: "awayBanner" }),
      h("button", { type: "button", class: "primary small", text: "comeBack", on: { click: () => a.command("present") } }),
    );
    this.soundButton = h("button", { type: "button", class: "primary", hidden: true, text: "enableSound", on: { click: () => { this.tiles.resumeSound(); show(this.soundButton, false); } } });
    this.passButton = h("button", { type: "button", class: "secondary big", id: "pass-button", on: { click: () => a.command("pass") } }, t("passTurnLong"));
    this.doneButton = h("button", { type: "button", class: "primary big", id: "done-button", on: { click: () => a.command("done") } }, t("finishEarlyLong"));
    this.turnActions = h("div", { class: "turn-actions", hidden: true }, this.doneButton, this.passButton);

    this.mic = control("mic-button", "mic", "mic", a.toggleMic, { "aria-pressed": "true" });
    this.cam = control("camera-button", "camera", "camera", a.toggleCamera, { "aria-pressed": "true" });
    this.hand = control("hand-button", "hand", "raiseHand", () => this.toggleHand(), { "aria-pressed": "false" });
    this.reactMenu = h(
      "div",
      { class: "react-menu", id: "react-menu", role: "group", "aria-label": t("reactLabel"), hidden: true },
      EMOJI.map((e) => h("button", { type: "button", class: "emoji", "aria-label": e, on: { click: () => { a.react(e); this.closeReact(); } } }, e)),
    );
    this.reactMenu.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        this.closeReact();
        this.reactButton.focus();
      }
    });
    this.reactButton = control("react-button", "heart", "react", () => this.toggleReact(), { "aria-expanded": "false", "aria-controls": "react-menu" });
    this.chatButton = control("chat-button", "chat", "chat", () => this.openSide("chat"), { "aria-controls": "side" });
    this.panelButton = control("panel-button", "guide", "facilitate", () => this.openSide("panel"), { "aria-controls": "side", hidden: true });
    this.moreButton = control("more-button", "more", "more", () => this.openMore(), { "aria-haspopup": "dialog" });
    this.leaveButton = control("leave-button", "leave", "leave", a.leave, { class: "control leave" });

    this.chatTab = h("button", { type: "button", role: "tab", id: "tab-chat", class: "tab", "aria-controls": "chat-panel", on: { click: () => this.openSide("chat") } }, t("chat"));
    this.panelTab = h("button", { type: "button", role: "tab", id: "tab-panel", class: "tab", "aria-controls": "facilitator-panel", hidden: true, on: { click: () => this.openSide("panel") } }, t("facilitate"));
    this.panelSlot = h("div", { class: "panel-slot" });
    this.sideEl = h(
      "aside",
      { class: "side", id: "side" },
      h(
        "div",
        { class: "side-head" },
        h("div", { class: "tabs", role: "tablist" }, this.chatTab, this.panelTab),
        h("button", { type: "button", class: "close-side", "aria-label": t("close"), on: { click: () => this.closeSide() } }, "✕"),
      ),
      this.chat.el,
      this.panelSlot,
    );
    this.sideEl.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.el.classList.contains("side-open")) this.closeSide();
    });

    this.el = h(
      "div",
      { class: "screen circle-screen", id: "screen-circle" },
      h(
        "div",
        { class: "circle-main" },
        h("div", { class: "circle-head" }, h("h1", { class: "sr-only", text: "circleLabel" }), this.roundLine, this.topic, this.locked),
        this.muteBanner,
        this.awayBanner,
        this.banner,
        this.soundButton,
        this.tiles.stage,
        this.turnActions,
        h("section", { class: "people", "aria-label": t("peopleLabel") }, this.tiles.list),
        this.tiles.sound,
      ),
      this.sideEl,
      h(
        "nav",
        { class: "controls", "aria-label": t("controlsLabel") },
        this.mic,
        this.cam,
        this.hand,
        h("div", { class: "react-wrap" }, this.reactButton, this.reactMenu),
        this.chatButton,
        this.panelButton,
        this.moreButton,
        this.leaveButton,
      ),
    );
  }

  /** @param {Element} main */
  mount(main) {
    fill(main, this.el);
    this.openSide("chat", false);
  }

  /** @param {View} view @param {Local} local */
  update(view, local) {
    this.view = view;
    this.localState = local;
    const s = view.state;
    const me = memberOf(view, view.me);
    const round = s.round;
    setText(this.roundLine, round ? `${t(`kind_${round.kind}`)}${round.pass_no > 1 ? ` · ${t("secondPass")}` : ""}` : t("openConversation"));
    setText(this.topic, s.topic ? t("topicLabel", { topic: s.topic }) : "");
    show(this.topic, !!s.topic);
    show(this.locked, s.locked && isFacilitator(view));

    const mySpeech = round?.speaker === view.me;
    const myFloor = !round && s.floor === view.me;
    show(this.turnActions, mySpeech || myFloor);
    show(this.passButton, mySpeech);
    setText(this.doneButton, mySpeech ? t("finishEarlyLong") : t("giveBackFloor"));

    // At the deadline the speaker gets a gentle cue in place of the turn hint, and keeps the
    // piece (unless the round was started to move on by itself); everyone else only sees the
    // timer's quiet mark. `next` is the server's word (room.js), never worked out here.
    const timeUp = mySpeech && !!round?.time_up;
    let banner = "";
    if (mySpeech) banner = t(timeUp ? "timeUpSpeaker" : "yourTurnHint");
    else if (nextSpeaker(view) === view.me) banner = t("youreNext");
    else if (s.held) banner = t("held");
    setText(this.banner, banner);
    show(this.banner, !!banner);
    this.banner.classList.toggle("your-turn", mySpeech);
    this.banner.classList.toggle("time-up", timeUp);

    show(this.muteBanner, !!me?.muted);
    show(this.awayBanner, !!me?.away);

    const handUp = s.hands.includes(view.me);
    this.hand.setAttribute("aria-pressed", String(handUp));
    setLabel(this.hand, handUp ? "lowerHand" : "raiseHand");
    this.mic.setAttribute("aria-pressed", String(local.micOn));
    this.setIcon(this.mic, local.micOn ? "mic" : "micOff");
    this.mic.setAttribute("aria-label", t(local.micOn ? "micToggleOn" : "micToggleOff"));
    this.mic.disabled = !local.hasMic;
    this.cam.setAttribute("aria-pressed", String(local.camOn));
    this.setIcon(this.cam, local.camOn ? "camera" : "cameraOff");
    this.cam.setAttribute("aria-label", t(local.camOn ? "cameraToggleOn" : "cameraToggleOff"));
    this.cam.disabled = local.audioOnly || !local.hasCam;

    const fac = isFacilitator(view);
    show(this.panelButton, fac);
    show(this.panelTab, fac);
    if (fac && !this.panel) {
      this.panel = new FacilitatorPanel({ command: this.a.command, now: this.a.now, setCountdown: this.a.setCountdown });
      fill(this.panelSlot, this.panel.el);
      this.openSide("panel", false);
    }
    if (!fac && this.panel) {
      fill(this.panelSlot);
      this.panel = null;
      if (this.side === "panel") this.openSide("chat", false);
    }
    this.panel?.update(view, local);
    this.chat.update(view);
    this.tiles.update(view, local);
  }

  /** @param {HTMLElement} button @param {string} name */
  setIcon(button, name) {
    const holder = button.querySelector(".control-icon");
    if (holder && !holder.querySelector(`.icon-${name}`)) fill(holder, icon(name));
  }

  /** @param {number} now */
  tick(now) {
    this.tiles.tick(now);
    this.panel?.tick(now);
  }

  toggleHand() {
    const view = this.view;
    if (!view) return;
    if (view.state.hands.includes(view.me)) void this.a.command("lower_hand");
    else void this.a.command("raise_hand");
  }

  toggleReact() {
    const open = this.reactMenu.hidden;
    show(this.reactMenu, open);
    this.reactButton.setAttribute("aria-expanded", String(open));
    if (open) /** @type {HTMLElement|null} */ (this.reactMenu.querySelector("button"))?.focus();
  }

  closeReact() {
    show(this.reactMenu, false);
    this.reactButton.setAttribute("aria-expanded", "false");
  }

  /** @param {string} which @param {boolean} [focus] */
  openSide(which, focus = true) {
    this.side = which === "panel" && this.panel ? "panel" : "chat";
    const chat = this.side === "chat";
    show(this.chat.el, chat);
    show(this.panelSlot, !chat);
    this.chatTab.setAttribute("aria-selected", String(chat));
    this.panelTab.setAttribute("aria-selected", String(!chat));
    if (focus) {
      this.el.classList.add("side-open");
      if (chat) this.chat.input.focus();
      else /** @type {HTMLElement|null} */ (this.panelSlot.querySelector("h2, button"))?.focus();
    }
  }

  closeSide() {
    this.el.classList.remove("side-open");
    (this.side === "chat" ? this.chatButton : this.panelButton).focus();
  }

  /** @param {string} member @param {string} emoji */
  react(member, emoji) {
    this.tiles.react(member, emoji);
  }

  openMore() {
    const view = this.view;
    const local = this.localState;
    if (!view || !local) return;
    const a = this.a;
    const me = memberOf(view, view.me);
    const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("ask-dialog"));
    const returnTo = this.moreButton;
    /** @param {string} id @param {string} key @param {boolean} checked @param {(on: boolean) => void} change */
    const toggle = (id, key, checked, change) =>
      h("div", { class: "check-row" }, h("input", { type: "checkbox", id, checked, on: { change: (/** @type {Event} */ e) => change(/** @type {HTMLInputElement} */ (e.target).checked) } }), h("label", { for: id, text: key }));
    const countdown = h(
      "fieldset",
      { class: "choice" },
      h("legend", { text: "countdownShow" }),
      ["everyone", "speaker"].map((who) =>
        h(
          "div",
          { class: "check-row" },
          h("input", { type: "radio", name: "countdown", id: `countdown-${who}`, value: who, checked: local.countdown === who, on: { change: () => a.setCountdown(/** @type {"everyone"|"speaker"} */ (who)) } }),
          h("label", { for: `countdown-${who}`, text: who === "everyone" ? "countdownEveryone" : "countdownSpeaker" }),
        ),
      ),
    );
    const form = h(
      "form",
      { method: "dialog", class: "dialog-form" },
      h("h2", { id: "more-title", text: "settingsTitle" }),
      h(
        "div",
        { class: "stack" },
        h("button", { type: "submit", class: "secondary", value: "away", id: "away-button" }, t(me?.away ? "comeBack" : "stepAway")),
        h("button", { type: "submit", class: "secondary", value: "support", id: "support-button" }, t("needSupport")),
      ),
      toggle("more-audio-only", "audioOnly", local.audioOnly, a.setAudioOnly),
      toggle("more-receive-no-video", "receiveNoVideo", !local.receiveVideo, (on) => a.setReceiveVideo(!on)),
      countdown,
      languageRow(),
      h("div", { class: "dialog-buttons" }, h("button", { type: "submit", class: "primary", value: "" }, t("close"))),
    );
    fill(dialog, form);
    dialog.setAttribute("aria-labelledby", "more-title");
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      () => {
        const choice = dialog.returnValue;
        returnTo.focus();
        if (choice === "away") void a.command(me?.away ? "present" : "away");
        if (choice === "support") a.support();
      },
      { once: true },
    );
    dialog.showModal();
  }
}

/**
 * The language choice inside "More": on a phone the circle's top bar has no room for the
 * switcher beside "Need help now?", so there it lives here (style.css hides the top bar's).
 */
function languageRow() {
  const select = document.createElement("select");
  select.id = "more-language";
  select.className = "language-select";
  offerLanguages(select);
  return h("div", { class: "check-row language-row" }, h("label", { for: "more-language", text: "languageLabel" }), select);
}
