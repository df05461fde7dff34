// The language switcher in the top bar of every page (join, lobby, circle, the host's page).
//
// Rules: a plain <select> (keyboard and screen reader work as the platform makes them), each
// language named in itself and marked with its own `lang`; a switch relabels every `data-s`
// node at once and then calls the page's `redraw`, which redraws what it built from data.

import { LANGUAGES, LANGUAGE_EVENT, language, setLanguage } from "./strings.js";
import { applyStrings, announce } from "./dom.js";
import { t } from "./strings.js";

/** Fill `#language` and follow it. @param {() => void} redraw */
export function mountLanguageSwitcher(redraw) {
  const select = /** @type {HTMLSelectElement|null} */ (document.getElementById("language"));
  if (select) {
    select.replaceChildren(
      ...Object.entries(LANGUAGES).map(([code, { name }]) => {
        const option = document.createElement("option");
        option.value = code;
        option.lang = code;
        option.textContent = name;
        return option;
      }),
    );
    select.value = language();
    select.addEventListener("change", () => setLanguage(select.value));
  }
  window.addEventListener(LANGUAGE_EVENT, () => {
    if (select) select.value = language();
    applyStrings(document);
    redraw();
    announce(t("languageChanged"));
  });
}
