// The waiting room: where someone stays until a facilitator lets them in.
//
// Nobody in the circle is shown here (the server sends the lobby nothing about them); the
// person sees their place in line, messages from the facilitator, the group's guidelines,
// and can send a private support note or leave.

import { h, fill, setText, show } from "./dom.js";
import { t } from "./strings.js";
import { upcomingFor, countdownText } from "./schedule.js";

/** @typedef {import("./room.js").View} View */

// How often the "starts in 12 minutes" line is brought up to date.
const COUNTDOWN_MS = 15_000;

export class LobbyScreen {
  /** @param {{onSupport: () => void, onLeave: () => void}} actions */
  constructor(actions) {
    this.position = h("p", { class: "lobby-position", id: "lobby-position" });
    // Not a live region: a line changing every few minutes would keep interrupting a screen
    // reader; it is read with the rest of the card.
    this.countdown = h("p", { class: "lobby-countdown", id: "lobby-countdown", hidden: true });
    this.room = "";
    /** @type {ReturnType<typeof setInterval>|undefined} */
    this.countdownTimer = undefined;
    this.messages = h("div", { class: "lobby-messages", hidden: true });
    // Why someone is here again (their seat expired): said once, plainly, at the top.
    this.notice = h("p", { class: "notice", id: "lobby-notice", role: "status", hidden: true });
    this.guidelines = h("div", { class: "guidelines preserve-lines", tabindex: "0", role: "region", "aria-label": t("lobbyGuidelines") });
    this.preview = h("video", { class: "lobby-preview mirrored", autoplay: true, muted: true, playsinline: true });
    this.preview.muted = true;
    this.el = h(
      "div",
      { class: "screen lobby-screen", id: "screen-lobby" },
      h(
        "section",
        { class: "card lobby-card" },
        this.notice,
        h("div", { class: "breathing", "aria-hidden": "true" }),
        h("h1", { text: "lobbyTitle" }),
        h("p", { class: "lead", text: "lobbyText" }),
        this.position,
        this.countdown,
        this.messages,
      ),
      h("div", { class: "lobby-side" }, h("div", { class: "preview lobby-preview-wrap" }, this.preview)),
      h("section", { class: "card" }, h("h2", { text: "lobbyGuidelines" }), this.guidelines),
      h(
        "div",
        { class: "lobby-actions" },
        h("button", { type: "button", class: "secondary", text: "needSupport", on: { click: actions.onSupport } }),
        h("button", { type: "button", class: "quiet-button", text: "leave", on: { click: actions.onLeave } }),
      ),
    );
  }

  /** @param {Element} main @param {MediaStream|null} stream */
  mount(main, stream) {
    fill(main, this.el);
    this.preview.srcObject = stream;
    this.preview.play().catch(() => {});
    show(this.preview, !!stream && stream.getVideoTracks().length > 0);
    clearInterval(this.countdownTimer);
    this.countdownTimer = setInterval(() => this.showCountdown(), COUNTDOWN_MS);
  }

  /** The time until the meeting starts, from what the join page kept (schedule.js). */
  showCountdown() {
    if (!this.el.isConnected) {
      clearInterval(this.countdownTimer); // the lobby is gone: stop counting
      return;
    }
    const text = this.room ? countdownText(upcomingFor(sessionStorage, this.room), Date.now()) : "";
    setText(this.countdown, text);
    show(this.countdown, text !== "");
  }

  /** A plain word on why the person is waiting again; "" hides it. @param {string} text */
  note(text) {
    setText(this.notice, text);
    show(this.notice, !!text);
  }

  /** @param {View} view */
  update(view) {
    const s = view.state;
    if (this.room !== s.room) {
      this.room = s.room;
      this.showCountdown();
    }
    setText(this.position, s.position ? t("lobbyPosition", { position: s.position }) : "");
    setText(this.guidelines, s.guidelines.trim() || t("guidelinesDefault"));
    show(this.messages, view.lobbyMessages.length > 0);
    fill(
      this.messages,
      view.lobbyMessages.length ? h("h2", { class: "small-heading", text: "lobbyFromFacilitator" }) : null,
      view.lobbyMessages.slice(-3).map((m) => h("p", { class: "lobby-message" }, m)),
    );
  }
}
