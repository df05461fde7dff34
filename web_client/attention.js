// What a facilitator must not miss: people waiting in the lobby and unseen support notes.
//
// Rules of this module:
// - The counts come from the view (the server's `waiting` and `notes`), never kept here.
// - The Facilitate tab and the panel button carry the count wherever they are shown.
// - A notice appears wherever the facilitator is (Chat tab, side closed, a phone) while the
//   panel is not in view. It never takes focus and never blocks anything; screen readers
//   hear arrivals through the polite announcer (app.js), not from this region. Dismissed, it
//   stays away until something new arrives; opening the panel hides it.

import { h, show, setText } from "./dom.js";
import { t } from "./strings.js";
import { isFacilitator } from "./room.js";

/** @typedef {import("./room.js").View} View */

export class Attention {
  /** @param {() => void} openPanel */
  constructor(openPanel) {
    this.openPanel = openPanel;
    this.text = h("span", { class: "attention-text", id: "attention-text" });
    this.el = h(
      "div",
      { class: "attention", id: "attention", role: "region", "aria-label": t("attentionLabel"), hidden: true },
      this.text,
      h("button", { type: "button", class: "primary small", id: "attention-open", text: "attentionShow", on: { click: () => this.openPanel() } }),
      h("button", { type: "button", class: "quiet-button small", id: "attention-dismiss", "aria-label": t("attentionDismiss"), on: { click: () => this.dismiss() } }, "✕"),
    );
    document.body.append(this.el);
    /** the signature of what was dismissed: something new shows the notice again */
    this.dismissed = "";
    this.signature = "";
  }

  /** @param {View|null} view */
  update(view) {
    const fac = !!view && isFacilitator(view) && !view.state.ended;
    const waiting = fac && view ? view.state.waiting : [];
    const notes = fac && view ? view.notes.filter((n) => !n.seen) : [];
    const count = waiting.length + notes.length;
    this.badge(count);
    this.signature = JSON.stringify([waiting.map((w) => w.id), notes.map((n) => n.id)]);
    const panel = document.getElementById("facilitator-panel");
    const panelInView = !!panel && panel.checkVisibility();
    if (panelInView) this.dismissed = this.signature; // seen there: no notice for the same
    const shown = count > 0 && !panelInView && this.dismissed !== this.signature;
    if (shown) {
      const parts = [];
      if (notes.length === 1) parts.push(t("attentionNote", { name: notes[0].name }));
      else if (notes.length > 1) parts.push(t("attentionNotes", { count: notes.length }));
      if (waiting.length === 1) parts.push(t("attentionOne", { name: waiting[0].name }));
      else if (waiting.length > 1) parts.push(t("attentionWaiting", { count: waiting.length }));
      setText(this.text, parts.join(" · "));
      this.el.classList.toggle("urgent", notes.length > 0);
    }
    show(this.el, shown);
  }

  dismiss() {
    this.dismissed = this.signature;
    show(this.el, false);
  }

  /** The count on the Facilitate tab and on the panel button. @param {number} count */
  badge(count) {
    for (const id of ["tab-panel", "panel-button"]) {
      const host = document.getElementById(id);
      if (!host) continue;
      const target = host;
      let badge = /** @type {HTMLElement|null} */ (target.querySelector(".attention-count"));
      if (!badge) {
        badge = h("span", { class: "attention-count", "aria-hidden": "true" });
        target.append(badge);
      }
      setText(badge, count ? String(count) : "");
      show(badge, count > 0);
      // The name says the count in words to screen readers; without one, the name it had.
      if (host.dataset.plainLabel === undefined) host.dataset.plainLabel = host.getAttribute("aria-label") || "";
      const plain = host.dataset.plainLabel;
      if (count) host.setAttribute("aria-label", `${t("facilitate")}, ${t("facilitateCount", { count })}`);
      else if (plain) host.setAttribute("aria-label", plain);
      else host.removeAttribute("aria-label");
    }
  }
}
