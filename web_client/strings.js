// Every text the client shows comes from here: the member's language, chosen and switched.
//
// Rules:
// - One ES module per language under strings/ (no build step), each with exactly the keys of
//   strings/en.js (tests/unit/web_client/test_strings.py checks keys, holes and plural forms).
// - The language is the one picked in the switcher (kept in localStorage: a preference, not
//   meeting data), else the first of navigator.languages we have, else English.
// - `t` fills `{name}` holes; a value with plural forms picks one through Intl.PluralRules of
//   the current language by its `count` (else `n`) hole. A missing key shows the key itself,
//   so a gap is visible rather than silent.
// - A switch sets <html lang>, and fires LANGUAGE_EVENT on window so every screen redraws.

import en from "./strings/en.js";
import es from "./strings/es.js";
import fr from "./strings/fr.js";
import de from "./strings/de.js";

/** @typedef {string | Partial<Record<Intl.LDMLPluralRule, string>> & {other: string}} Text */

/** Each language by its code, with its own name for itself (what the switcher shows). */
export const LANGUAGES = /** @type {const} */ ({
  en: { name: "English", strings: en },
  es: { name: "Español", strings: es },
  fr: { name: "Français", strings: fr },
  de: { name: "Deutsch", strings: de },
});

/** @typedef {keyof typeof LANGUAGES} Lang */

export const LANGUAGE_EVENT = "hearth:language";
const STORE_KEY = "hearth.lang";

/** @param {string} code @returns {code is Lang} */
function known(code) {
  return Object.prototype.hasOwnProperty.call(LANGUAGES, code);
}

/** The language to start in: the kept choice, else the browser's, else English. @returns {Lang} */
function initialLanguage() {
  try {
    const kept = localStorage.getItem(STORE_KEY) || "";
    if (known(kept)) return kept;
  } catch {
    /* no storage: follow the browser */
  }
  for (const tag of navigator.languages || [navigator.language]) {
    const code = String(tag || "").toLowerCase().split("-")[0];
    if (known(code)) return code;
  }
  return "en";
}

/** @type {Lang} */
let current = initialLanguage();
let plurals = new Intl.PluralRules(current);
document.documentElement.lang = current;

/** The current language's code ("en", "de", ...). @returns {Lang} */
export function language() {
  return current;
}

/** Switch language, keep the choice, and tell every screen to redraw. @param {string} code */
export function setLanguage(code) {
  if (!known(code) || code === current) return;
  current = code;
  plurals = new Intl.PluralRules(current);
  document.documentElement.lang = current;
  try {
    localStorage.setItem(STORE_KEY, current);
  } catch {
    /* not kept: this page still switches */
  }
  window.dispatchEvent(new CustomEvent(LANGUAGE_EVENT, { detail: { language: current } }));
}

/**
 * The text for `key`, with `{hole}`s filled from `vars`.
 * @param {string} key @param {Record<string, string|number>} [vars]
 */
export function t(key, vars) {
  /** @type {Record<string, Text>} */
  const table = LANGUAGES[current].strings;
  const value = table[key] ?? /** @type {Record<string, Text>} */ (en)[key] ?? key;
  let text;
  if (typeof value === "string") text = value;
  else {
    const count = Number(vars?.count ?? vars?.n ?? 0);
    text = value[plurals.select(count)] ?? value.other;
  }
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/**
 * Words for an error code from the server (docs/protocol.md "Errors"), or "timeout" when no
 * answer came: never the server's English `message`, always the member's language.
 * @param {string} code
 */
export function errorWords(code) {
  const key = {
    bad_frame: "errorGeneric",
    unknown_type: "errorGeneric",
    too_large: "errorTooLarge",
    invalid: "errorInvalid",
    not_allowed: "errorNotAllowed",
    rate_limited: "errorRate",
    bad_token: "badToken",
    room_locked: "roomLocked",
    resume_expired: "expiredText",
    unavailable: "errorUnavailable",
    timeout: "errorTimeout",
    internal: "errorGeneric",
    room_error: "errorGeneric",
  }[code];
  return t(key || "errorGeneric");
}
