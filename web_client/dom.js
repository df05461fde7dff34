// Building and updating the page: elements, texts, live regions, dialogs.
//
// Rules: text is always set as text (never parsed as HTML), every string comes from
// strings.js through `t`, and no style is set inline from markup (the CSP forbids it):
// classes do the styling, and the few computed values go through CSSOM (`el.style`).

import { t } from "./strings.js";

/**
 * @typedef {Record<string, any>} Attrs
 *   `class`, `text` (a string key, through `t`), `label` (aria-label key), `on` (event map),
 *   any other attribute as is (booleans add or leave out the attribute).
 * @typedef {Node|string|null|undefined|false} Child
 */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {Attrs} [attrs] @param {...(Child|Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    // The key stays on the element, so a language switch (applyStrings) relabels it.
    else if (key === "text") {
      el.textContent = t(value);
      el.setAttribute("data-s", value);
    } else if (key === "label") {
      el.setAttribute("aria-label", t(value));
      el.setAttribute("data-s-label", value);
    }
    else if (key === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** @param {string} id @returns {HTMLElement} */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** Fill `[data-s]` texts and `[data-s-label]` aria-labels under `root`. @param {ParentNode} root */
export function applyStrings(root) {
  for (const el of root.querySelectorAll("[data-s]")) el.textContent = t(el.getAttribute("data-s") || "");
  for (const el of root.querySelectorAll("[data-s-label]")) {
    el.setAttribute("aria-label", t(el.getAttribute("data-s-label") || ""));
  }
}

/** Replace an element's children. @param {Element} el @param {...(Child|Child[])} children */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false).map((c) => /** @type {Node|string} */ (c)));
}

/** Show or hide. @param {Element} el @param {boolean} shown */
export function show(el, shown) {
  /** @type {HTMLElement} */ (el).hidden = !shown;
}

/** Set text only when it changed (keeps screen readers and layout calm). @param {Element} el @param {string} text */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Say something to screen readers; `urgent` interrupts. @param {string} text @param {boolean} [urgent] */
export function announce(text, urgent = false) {
  const region = byId(urgent ? "alerter" : "announcer");
  // Clearing first makes a repeated message be read again.
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/**
 * Why the timer stands still, as the server said (`round.pause_reason`), never guessed here.
 * @param {{paused: boolean, pause_reason?: string|null}} round
 */
export function pausedText(round) {
  if (round.pause_reason === "no_facilitator") return t("pausedNoFacilitator");
  if (round.pause_reason === "facilitator") return t("pausedByFacilitator");
  return t("paused");
}

/** "2:05", or "−0:12" in overtime. @param {number} seconds */
export function clock(seconds) {
  const s = Math.round(Math.abs(seconds));
  const text = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return seconds < -0.5 ? `−${text}` : text;
}

/** "3 minutes", "1 minute 30 seconds" for announcements. @param {number} seconds */
export function spokenDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  const r = s % 60;
  const parts = [];
  if (m) parts.push(t("durationMinutes", { n: m }));
  if (r || !m) parts.push(t("durationSeconds", { n: r }));
  return parts.join(" ");
}

/** Initials for a tile without video. @param {string} name */
export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2)).toUpperCase();
}

/**
 * A modal dialog built from `body`, with buttons; resolves with the chosen button's value
 * ("" when dismissed with Escape or Cancel). Focus returns to where it was.
 * @param {{title: string, body?: (Node|string)[], buttons: {text: string, value: string, kind?: string}[]}} spec
 * @returns {Promise<string>}
 */
export function ask({ title, body = [], buttons }) {
  const dialog = /** @type {HTMLDialogElement} */ (byId("ask-dialog"));
  const returnTo = /** @type {HTMLElement|null} */ (document.activeElement);
  const titleId = "ask-title";
  const form = h(
    "form",
    { method: "dialog", class: "dialog-form" },
    h("h2", { id: titleId }, title),
    ...body,
    h(
      "div",
      { class: "dialog-buttons" },
      buttons.map((b) => h("button", { value: b.value, class: b.kind || "secondary", type: "submit" }, b.text)),
    ),
  );
  fill(dialog, form);
  dialog.setAttribute("aria-labelledby", titleId);
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        returnTo?.focus?.();
        resolve(dialog.returnValue);
      },
      { once: true },
    );
    dialog.showModal();
  });
}
