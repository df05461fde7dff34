// The chat panel: messages to everyone in the circle, kept in the page's memory only.

import { h, fill, setText } from "./dom.js";
import { t, language } from "./strings.js";

/** @typedef {import("./room.js").View} View */

export class ChatPanel {
  /** @param {{send: (text: string) => Promise<boolean>}} actions */
  constructor(actions) {
    this.actions = actions;
    this.shown = 0;
    // A div, not a list: role="log" takes the list role away, leaving its items orphaned.
    this.log = h("div", { class: "chat-log", role: "log", "aria-label": t("chatLabel"), tabindex: "0" });
    this.empty = h("p", { class: "quiet small", text: "chatEmpty" });
    this.input = h("textarea", { id: "chat-input", rows: "2", maxlength: "2000", placeholder: t("chatPlaceholder"), "aria-label": t("chatInputLabel") });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.submit();
      }
    });
    this.error = h("p", { class: "form-error", role: "alert" });
    this.el = h(
      "section",
      { class: "panel chat-panel", id: "chat-panel", "aria-labelledby": "chat-title" },
      h("h2", { id: "chat-title", class: "sr-only", text: "chatTitle" }),
      this.empty,
      this.log,
      h(
        "form",
        { class: "chat-form", on: { submit: (/** @type {Event} */ e) => { e.preventDefault(); void this.submit(); } } },
        this.input,
        h("button", { type: "submit", class: "primary", id: "chat-send", text: "send" }),
      ),
      this.error,
    );
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    setText(this.error, "");
    if (!(await this.actions.send(text))) {
      this.input.value = text;
      setText(this.error, t("chatFailed"));
    }
  }

  /** @param {View} view */
  update(view) {
    this.empty.hidden = view.chat.length > 0;
    const fresh = Math.min(view.chatCount - this.shown, view.chat.length);
    if (fresh <= 0) return;
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    for (const line of view.chat.slice(view.chat.length - fresh)) {
      const time = new Date(line.at * 1000).toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" });
      this.log.append(
        h(
          "div",
          { class: line.mine ? "chat-line mine" : "chat-line" },
          h("span", { class: "chat-name" }, line.mine ? t("you") : line.name || "?"),
          h("time", { class: "chat-time" }, time),
          h("p", { class: "chat-text" }, line.text),
        ),
      );
    }
    this.shown = view.chatCount;
    while (this.log.children.length > 300) this.log.firstElementChild?.remove();
    if (atBottom) this.log.scrollTop = this.log.scrollHeight;
  }
}
