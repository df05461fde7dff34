// The language switcher in the top bar of every page (join, lobby, circle, the host's page).
//
// Rules: a plain <select> (keyboard and screen reader work as the platform makes them), each
// language named in itself and marked with its own `lang`; a switch relabels every `data-s`
// node at once and then calls the page's `redraw`, which redraws what it built from data.

import { LANGUAGES, LANGUAGE_EVENT, language, setLanguage, t } from "./strings.js";
import { applyStrings, announce } from "./dom.js";

/** Fill `#language` and follow it. @param {() => void} redraw */
export function mountLanguageSwitcher(redraw) {
  const select = /** @type {HTMLSelectElement|null} */ (document.getElementById("language"));
  if (select) offerLanguages(select);
  window.addEventListener(LANGUAGE_EVENT, () => {
    if (select) select.value = language();
    applyStrings(document);
    redraw();
    announce(t("languageChanged"));
  });
}

/** Fill `select` with every language, named in itself, the current one chosen, and switch
 * on change (the top bar's switcher, and the one under "More" in the circle).
 * @param {HTMLSelectElement} select */
export function offerLanguages(select) {
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
