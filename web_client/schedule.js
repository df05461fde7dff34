// A room's regular meeting time in the browser: the join page's "Next meeting" line and
// calendar download, and the lobby's countdown.
//
// Rules of this module:
// - The server computes every instant (`next_start`, epoch seconds, with the zone's daylight
//   saving rules: server/schedule.py); this module only formats it, in the browser's own time
//   zone, through Intl.
// - The calendar file comes ready-made in the preview and holds the group's name and times,
//   no token and no link; it is saved under a plain file name that says nothing of the group.
// - The join page keeps {next_start, duration_minutes} for its room in this tab's
//   sessionStorage, so the lobby (after a reload too) can count down without asking anyone.

import { t } from "./strings.js";

/**
 * @typedef {{weekday: string, time: string, duration_minutes: number, every_weeks: number,
 *   timezone: string, first_date: string|null}} Schedule
 * @typedef {{next_start: number, duration_minutes: number}} Upcoming
 */

const KEY = "hearth.schedule.";
const CALENDAR_FILE = "meeting.ics";

/**
 * The page's language for Intl, with the browser's region when it agrees ("en" and a browser
 * in en-GB: 18:05, not 6:05 PM); the browser's own when the page names none.
 */
function locale() {
  const lang = document.documentElement.lang;
  if (!lang) return undefined;
  const regional = navigator.languages.find((l) => l.toLowerCase().startsWith(`${lang.toLowerCase()}-`));
  return regional || lang;
}

/** @param {Storage} store @param {string} room @param {Upcoming|null} upcoming */
export function keepUpcoming(store, room, upcoming) {
  try {
    if (upcoming) store.setItem(KEY + room, JSON.stringify(upcoming));
    else store.removeItem(KEY + room);
  } catch {
    /* storage refused: the lobby simply shows no countdown */
  }
}

/** @param {Storage} store @param {string} room @returns {Upcoming|null} */
export function upcomingFor(store, room) {
  try {
    const kept = JSON.parse(store.getItem(KEY + room) || "null");
    if (kept && typeof kept.next_start === "number" && typeof kept.duration_minutes === "number") return kept;
  } catch {
    /* nothing kept, or not ours */
  }
  return null;
}

/**
 * The join page's two lines: when the next meeting is (or that it is on now), and the rhythm,
 * with the weekday as it falls in the reader's own time zone.
 * @param {Schedule} schedule @param {number} nextStart epoch seconds @param {number} nowMs
 * @returns {{when: string, rhythm: string}}
 */
export function nextMeetingLines(schedule, nextStart, nowMs) {
  const start = new Date(nextStart * 1000);
  const day = new Intl.DateTimeFormat(locale(), { weekday: "long" }).format(start);
  const rhythm = t(schedule.every_weeks === 2 ? "meetsEveryOther" : "meetsEvery", { day });
  if (start.getTime() <= nowMs) {
    const time = new Intl.DateTimeFormat(locale(), { hour: "numeric", minute: "2-digit" }).format(start);
    return { when: t("meetingNow", { time }), rhythm };
  }
  const format = new Intl.DateTimeFormat(locale(), { weekday: "long", day: "numeric", month: "long", hour: "numeric", minute: "2-digit" });
  return { when: t("nextMeeting", { when: format.format(start) }), rhythm };
}

/**
 * The lobby's line: "The meeting starts in 12 minutes", "… is about to start", "… has
 * started"; "" once it is over (or when nothing is known).
 * @param {Upcoming|null} upcoming @param {number} nowMs
 */
export function countdownText(upcoming, nowMs) {
  if (!upcoming) return "";
  const seconds = upcoming.next_start - nowMs / 1000;
  if (seconds < -upcoming.duration_minutes * 60) return "";
  if (seconds < 0) return t("lobbyStarted");
  if (seconds < 60) return t("lobbyStartsNow");
  const relative = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  let when;
  if (seconds < 90 * 60) when = relative.format(Math.ceil(seconds / 60), "minute");
  else if (seconds < 36 * 3600) when = relative.format(Math.round(seconds / 3600), "hour");
  else when = relative.format(Math.round(seconds / 86400), "day");
  return t("lobbyStartsIn", { when });
}

/** Save the preview's calendar file (text/calendar) through a download link. @param {string} text */
export function downloadCalendar(text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/calendar;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = CALENDAR_FILE;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
