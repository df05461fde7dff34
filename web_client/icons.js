// Line icons drawn for Hearth (24 × 24, stroked with the text colour), so controls look the
// same everywhere, with or without an emoji font. Always decorative: the button carries the
// label.

const SVG = "http://www.w3.org/2000/svg";

/** @type {Record<string, string[]>} each icon is a list of path data */
const PATHS = {
  mic: ["M12 3a3 3 0 0 1 3 3v5a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z", "M5 11a7 7 0 0 0 14 0", "M12 18v3"],
  micOff: ["M12 3a3 3 0 0 1 3 3v5a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z", "M5 11a7 7 0 0 0 14 0", "M12 18v3", "M4 4l16 16"],
  camera: ["M4 7h10a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2z", "M16 11l6-3v8l-6-3"],
  cameraOff: ["M4 7h10a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2z", "M16 11l6-3v8l-6-3", "M3 3l18 18"],
  hand: [
    "M8 12V5.5a1.5 1.5 0 0 1 3 0V11",
    "M11 11V4a1.5 1.5 0 0 1 3 0v7",
    "M14 11V5.5a1.5 1.5 0 0 1 3 0V14",
    "M8 12V9.5a1.5 1.5 0 0 0-3 0V14a7 7 0 0 0 7 7h.5A4.5 4.5 0 0 0 17 16.5V13",
  ],
  heart: ["M12 20s-7.5-4.6-7.5-10.2A4.3 4.3 0 0 1 12 7.2a4.3 4.3 0 0 1 7.5 2.6C19.5 15.4 12 20 12 20z"],
  chat: ["M4 5h16v11H10l-6 4z"],
  guide: ["M4 7h9", "M17 7h3", "M4 17h3", "M11 17h9", "M15 5v4", "M9 15v4"],
  more: ["M5 12h.01", "M12 12h.01", "M19 12h.01"],
  leave: ["M10 4H5v16h5", "M14 8l4 4-4 4", "M18 12H9"],
};

/** @param {string} name @returns {SVGSVGElement} */
export function icon(name) {
  const svg = /** @type {SVGSVGElement} */ (document.createElementNS(SVG, "svg"));
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `icon-line icon-${name}`);
  for (const d of PATHS[name] || []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
