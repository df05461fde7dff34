// WCAG 2.x contrast of every visible text on the page; used by test_contrast.py, which
// describes what is judged and how. Returns { checked, failures, unjudged }.
() => {
  const parse = (css) => {
    const m = css.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, bottom) => {
    const a = top.a + bottom.a * (1 - top.a);
    if (a === 0) return { r: 0, g: 0, b: 0, a: 0 };
    const mix = (k) => (top[k] * top.a + bottom[k] * bottom.a * (1 - top.a)) / a;
    return { r: mix("r"), g: mix("g"), b: mix("b"), a };
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const canvas = parse(getComputedStyle(document.documentElement).backgroundColor);
  const page = canvas && canvas.a > 0 ? over(canvas, { r: 255, g: 255, b: 255, a: 1 })
    : (matchMedia("(prefers-color-scheme: dark)").matches
        ? { r: 0, g: 0, b: 0, a: 1 } : { r: 255, g: 255, b: 255, a: 1 });
  // What is painted under the middle of `el`, top down: the colours to blend, and whether
  // a picture (video, image, canvas, gradient) shows through underneath them, whose colours
  // can be anything, so the text is judged over both white and black there.
  const shapes = new Set(["circle", "rect", "path", "ellipse", "polygon"]);
  const behind = (el) => {
    const under = () => {
      const box = el.getBoundingClientRect();
      const stack = document.elementsFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      const start = stack.findIndex((e) => el.contains(e));  // el itself, or a child of it
      return start < 0 ? null : stack.slice(start);
    };
    // What lies under it is only known on screen and uncovered (a sticky bar may hide it).
    let stack = under();
    if (!stack) {
      el.scrollIntoView({ block: "center", inline: "center" });
      stack = under();
    }
    if (!stack) return null;
    const layers = [];
    let picture = false;
    for (const e of stack) {
      if (["VIDEO", "IMG", "CANVAS"].includes(e.tagName)) { picture = true; break; }
      const s = getComputedStyle(e);
      if (s.backgroundImage && s.backgroundImage !== "none") { picture = true; break; }
      let c = parse(s.backgroundColor);
      if (shapes.has(e.tagName.toLowerCase())) {
        c = parse(s.fill);
        if (c) c.a *= Number(s.fillOpacity);
      }
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    const on = (base) => {
      let bg = base;
      for (const c of [...layers].reverse()) bg = over(c, bg);
      return bg;
    };
    const opaque = layers.length && layers[layers.length - 1].a >= 1;
    if (picture && !opaque) return [on({ r: 255, g: 255, b: 255, a: 1 }), on({ r: 0, g: 0, b: 0, a: 1 })];
    return [on(page)];
  };
  const results = { checked: 0, failures: [], unjudged: [] };
  const all = document.querySelectorAll("body *");
  for (const el of all) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const field = (el.tagName === "INPUT" || el.tagName === "TEXTAREA") && el.value;
    if (!own && !field) continue;
    if (el.closest("[disabled], [aria-disabled='true'], [hidden], .sr-only, .visually-hidden")) continue;
    const s = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (s.visibility !== "visible" || box.width === 0 || box.height === 0) continue;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden, read by screen readers
    if (box.right + scrollX <= 0 || box.bottom + scrollY <= 0) continue;  // off the page until focused
    const fg = parse(s.color);
    const label = (el.id ? "#" + el.id : el.tagName.toLowerCase() +
      (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "")) +
      " '" + (el.innerText || el.value || "").trim().slice(0, 30) + "'";
    const backgrounds = behind(el);
    if (!fg || !backgrounds) { results.unjudged.push(label); continue; }
    let opacity = 1;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    let worst = Infinity;
    for (const bg of backgrounds) {
      const text = over({ ...fg, a: fg.a * opacity }, bg);
      const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a);
      worst = Math.min(worst, (hi + 0.05) / (lo + 0.05));
    }
    results.checked += 1;
    if (worst < need) results.failures.push(label + " " + worst.toFixed(2) + " < " + need);
  }
  return results;
}
