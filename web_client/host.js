// The host's page (/host): sign in with the admin token, then create, edit, rotate and delete
// rooms, copy their links, and see which rooms have people in them.
//
// Rules of this module:
// - The admin token is typed once and kept only in this tab's sessionStorage: never in a URL,
//   a cookie or localStorage. It travels only in the Authorization header of same-origin
//   fetches with credentials omitted. "Sign out" forgets it, and so does a 401 (the server's
//   token changed), which brings the sign-in form back.
// - Links exist only in the answers to create and rotate (the server keeps their hashes), so
//   they live in this page's memory, shown once with Copy buttons; after a reload the page says
//   how to get new ones.
// - Counts, never names: the admin API gives numbers and the page shows nothing more.
// - Live counts refresh every few seconds while the page is visible, one request at a time.
//   A refresh changes texts in place, so it never moves focus or loses what is being typed.
// - Deleting and rotating ask first (a <dialog>): they end a meeting, or break links that
//   people hold.

import { h, byId, fill, show, setText, applyStrings, announce, ask, spokenDuration } from "./dom.js";
import { t } from "./strings.js";
import { mountLanguageSwitcher } from "./language.js";

/**
 * @typedef {{members: number, waiting: number}} Live
 * @typedef {{weekday: string, time: string, duration_minutes: number, every_weeks: number,
 *   timezone: string, first_date: string|null}} Schedule  a regular meeting time (server/schedule.py)
 * @typedef {{id: string, name: string, guidelines: string, crisis: string, share_seconds: number,
 *   schedule?: Schedule|null, live: Live}} RoomInfo
 * @typedef {{id: string, name: string, invite: string, facilitator: string, invite_url: string, facilitator_url: string}} Issued
 * @typedef {{status: number, body: any, retryAfter: number|null}} Answer  status 0: no answer
 * @typedef {{name: string, guidelines: string, crisis: string, share_seconds: number,
 *   schedule: Schedule|null}} RoomBody  schedule null: none (on edit, it drops the old one)
 */

const TOKEN_KEY = "hearth.admin";
const REFRESH_MS = 4000;
const REQUEST_MS = 10_000;
const DEFAULT_SHARE_SECONDS = 180;
// The server's bounds (server/room_store.py); checked here too, so the host hears it kindly.
const SHARE_SECONDS = { min: 10, max: 3600 };
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const SCHEDULE_DEFAULTS = { time: "19:00", duration_minutes: 90 };

/** @returns {string} */
function savedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

/** @param {string} token ("" forgets it) */
function keepToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* no storage: the token lives in this page's memory only */
  }
}

/**
 * One admin API request; never throws.
 * @param {string} token @param {string} method @param {string} path @param {object} [body]
 * @returns {Promise<Answer>}
 */
async function call(token, method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${token}` };
  if (body) headers["Content-Type"] = "application/json";
  try {
    const answer = await fetch(path, {
      method,
      headers,
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      cache: "no-store",
      signal: AbortSignal.timeout(REQUEST_MS),
    });
    const data = answer.status === 204 ? null : await answer.json().catch(() => /** @type {any} */ (null));
    const retry = Number.parseInt(answer.headers.get("Retry-After") || "", 10);
    return { status: answer.status, body: data, retryAfter: Number.isFinite(retry) ? retry : null };
  } catch {
    return { status: 0, body: null, retryAfter: null };
  }
}

/** The words for a refusal other than 401. @param {Answer} answer */
function problemText(answer) {
  switch (answer.status) {
    case 0:
      return t("hostNetwork");
    case 400:
      return t("hostInvalid", { detail: String(answer.body?.message || answer.body?.error || "") });
    case 404:
      return t("hostGone");
    case 429:
      return t("hostTooMany", { time: answer.retryAfter ? spokenDuration(answer.retryAfter) : t("hostAMinute") });
    case 503:
      return t("hostUnavailable");
    default:
      return t("hostFailed");
  }
}

/** "3 minutes" as the number input shows it: 3, 2.5. @param {number} seconds */
function minutesOf(seconds) {
  return String(Math.round((seconds / 60) * 100) / 100);
}

/** The room's regular time as its card says it, or "". @param {Schedule|null|undefined} s */
function scheduleText(s) {
  if (!s) return "";
  return t(s.every_weeks === 2 ? "hostMeetsOther" : "hostMeets", { day: t(`hostDay_${s.weekday}`), time: s.time, zone: s.timezone });
}

/**
 * The regular meeting time's fields: "No regular time" hides the rest.
 * @param {string} prefix @param {(key: string, control: HTMLElement, hint: string) => HTMLElement} field
 */
function scheduleFields(prefix, field) {
  /** @param {string} key @param {HTMLElement} control */
  const plain = (key, control) => h("div", { class: "field" }, h("label", { for: control.id, class: "field-label", text: key }), control);
  const weekday = /** @type {HTMLSelectElement} */ (
    h("select", { id: `${prefix}-weekday` }, h("option", { value: "" }, t("hostNoSchedule")), WEEKDAYS.map((d) => h("option", { value: d }, t(`hostDay_${d}`))))
  );
  const time = h("input", { id: `${prefix}-time`, type: "time", step: "60" });
  const duration = h("input", { id: `${prefix}-duration`, type: "number", min: "5", max: "720", step: "5", inputmode: "numeric" });
  const every = /** @type {HTMLSelectElement} */ (h("select", { id: `${prefix}-every` }, h("option", { value: "1" }, t("hostEveryWeek")), h("option", { value: "2" }, t("hostEveryOtherWeek"))));
  const zone = h("input", { id: `${prefix}-zone`, type: "text", maxlength: "64", autocomplete: "off", spellcheck: "false", "aria-describedby": `${prefix}-zone-hint` });
  const first = h("input", { id: `${prefix}-first`, type: "date", "aria-describedby": `${prefix}-first-hint` });
  const rest = h(
    "div",
    { class: "schedule-fields" },
    plain("hostTimeLabel", time),
    plain("hostDurationLabel", duration),
    plain("hostEveryLabel", every),
    field("hostZoneLabel", zone, "hostZoneHint"),
    field("hostFirstLabel", first, "hostFirstHint"),
  );
  weekday.addEventListener("change", () => show(rest, weekday.value !== ""));
  const node = h(
    "fieldset",
    { class: "field schedule-set" },
    h("legend", { class: "field-label", text: "hostScheduleLegend" }),
    h("p", { class: "quiet small field-hint", text: "hostScheduleHint" }),
    plain("hostWeekdayLabel", weekday),
    rest,
  );
  return {
    node,
    /** @param {Schedule|null|undefined} s */
    set(s) {
      weekday.value = s ? s.weekday : "";
      time.value = s ? s.time : SCHEDULE_DEFAULTS.time;
      duration.value = String(s ? s.duration_minutes : SCHEDULE_DEFAULTS.duration_minutes);
      every.value = String(s ? s.every_weeks : 1);
      zone.value = s ? s.timezone : Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
      first.value = s?.first_date || "";
      show(rest, !!s);
    },
    /** The schedule, null for none, or [control, string key] for what is missing. @returns {Schedule|null|[HTMLElement, string]} */
    read() {
      time.removeAttribute("aria-invalid");
      first.removeAttribute("aria-invalid");
      if (!weekday.value) return null;
      if (!time.value) return [time, "hostScheduleTimeMissing"];
      if (every.value === "2" && !first.value) return [first, "hostScheduleFirstMissing"];
      return {
        weekday: weekday.value,
        time: time.value.slice(0, 5),
        duration_minutes: Math.round(Number(duration.value)),
        every_weeks: Number(every.value),
        timezone: zone.value.trim(),
        first_date: first.value || null,
      };
    },
  };
}

/**
 * The fields of a room, for creating or editing.
 * @param {string} prefix element ids start with it @param {Partial<RoomInfo>} values
 */
function roomFields(prefix, values) {
  /** @param {string} key @param {HTMLElement} control @param {string} hint */
  const field = (key, control, hint) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: control.id, class: "field-label", text: key }),
      h("p", { id: `${control.id}-hint`, class: "quiet small field-hint", text: hint }),
      control,
    );
  const name = h("input", { id: `${prefix}-name`, type: "text", maxlength: "80", required: true, autocomplete: "off", "aria-describedby": `${prefix}-name-hint` });
  const guidelines = h("textarea", { id: `${prefix}-guidelines`, rows: "4", maxlength: "5000", "aria-describedby": `${prefix}-guidelines-hint` });
  const crisis = h("textarea", { id: `${prefix}-crisis`, rows: "3", maxlength: "2000", "aria-describedby": `${prefix}-crisis-hint` });
  const minutes = h("input", { id: `${prefix}-minutes`, type: "number", min: "0.5", max: "60", step: "0.5", inputmode: "decimal", "aria-describedby": `${prefix}-minutes-hint` });
  const error = h("p", { class: "form-error", role: "alert", id: `${prefix}-error` });
  const schedule = scheduleFields(prefix, field);
  const set = (/** @type {Partial<RoomInfo>} */ v) => {
    schedule.set(v.schedule);
    name.value = v.name || "";
    guidelines.value = v.guidelines || "";
    crisis.value = v.crisis || "";
    minutes.value = minutesOf(v.share_seconds ?? DEFAULT_SHARE_SECONDS);
  };
  set(values);
  return {
    name,
    error,
    set,
    nodes: [
      field("hostNameLabel", name, "hostNameHint"),
      field("hostGuidelinesLabel", guidelines, "hostGuidelinesHint"),
      field("hostCrisisLabel", crisis, "hostCrisisHint"),
      field("hostShareLabel", minutes, "hostShareHint"),
      schedule.node,
      error,
    ],
    /** The body to send, or null after saying what is wrong and focusing it. @returns {RoomBody|null} */
    read() {
      name.removeAttribute("aria-invalid");
      minutes.removeAttribute("aria-invalid");
      const seconds = Math.round(Number(minutes.value.replace(",", ".")) * 60);
      const when = schedule.read();
      /** @type {[HTMLElement, string]|null} */
      let wrong = null;
      if (!name.value.trim()) wrong = [name, "hostNameMissing"];
      else if (!Number.isFinite(seconds) || seconds < SHARE_SECONDS.min || seconds > SHARE_SECONDS.max) wrong = [minutes, "hostShareWrong"];
      else if (Array.isArray(when)) wrong = when;
      if (wrong) {
        wrong[0].setAttribute("aria-invalid", "true");
        setText(error, t(wrong[1]));
        wrong[0].focus();
        return null;
      }
      setText(error, "");
      const checked = Array.isArray(when) ? null : when;
      return { name: name.value.trim(), guidelines: guidelines.value, crisis: crisis.value, share_seconds: seconds, schedule: checked };
    },
  };
}

/** Copy a link; when the browser refuses, select it for the person to copy by hand. */
async function copyLink(/** @type {HTMLInputElement} */ input, /** @type {HTMLButtonElement} */ button, /** @type {HTMLElement} */ note) {
  try {
    await navigator.clipboard.writeText(input.value);
    setText(button, t("hostCopied"));
    announce(t("hostCopiedSay"));
    setTimeout(() => setText(button, t("hostCopy")), 2500);
  } catch {
    input.focus();
    input.select();
    setText(note, t("hostCopyByHand"));
  }
}

/** One room in the list: its name, live counts, links (once), and its actions. */
class RoomCard {
  /** @param {HostPage} page @param {RoomInfo} room */
  constructor(page, room) {
    this.page = page;
    this.room = room;
    const id = room.id;
    // Room names are level 2, under the page's h1, so heading navigation skips no level.
    this.title = h("h2", { class: "room-name", id: `room-${id}-name`, tabindex: "-1" });
    this.live = h("p", { class: "live-status", "data-live": "false" });
    this.meta = h("p", { class: "quiet small room-meta" });
    this.links = h("div", { class: "room-links" });
    this.editButton = h("button", { type: "button", class: "secondary small", text: "hostEdit", on: { click: () => this.openEdit() } });
    this.rotateButton = h("button", { type: "button", class: "secondary small", text: "hostRotate", on: { click: () => { void this.rotate(); } } });
    this.deleteButton = h("button", { type: "button", class: "quiet-button small delete", text: "hostDelete", on: { click: () => { void this.remove(); } } });
    this.actions = h("div", { class: "button-row room-actions" }, this.editButton, this.rotateButton, this.deleteButton);
    this.editSlot = h("div", { class: "room-edit", hidden: true });
    this.el = h(
      "li",
      { class: "card room-card", "data-room": id, "aria-labelledby": this.title.id },
      h("div", { class: "room-head" }, this.title, this.live),
      this.meta,
      this.links,
      this.actions,
      this.editSlot,
    );
    this.hideLinks();
    this.update(room);
  }

  /** @param {RoomInfo} room */
  update(room) {
    this.room = room;
    const { members, waiting } = room.live;
    setText(this.title, room.name);
    const live = members + waiting > 0;
    this.live.dataset.live = String(live);
    const parts = live ? [t("hostLiveNow"), t("hostInCircle", { n: members }), t("hostWaiting", { n: waiting })] : [t("hostQuiet")];
    setText(this.live, parts.join(" · "));
    const meets = scheduleText(room.schedule);
    setText(this.meta, [t("hostShareTime", { time: spokenDuration(room.share_seconds) }), meets, t("hostRoomId", { id: room.id })].filter(Boolean).join(" · "));
    this.editButton.setAttribute("aria-label", t("hostEditLabel", { name: room.name }));
    this.rotateButton.setAttribute("aria-label", t("hostRotateLabel", { name: room.name }));
    this.deleteButton.setAttribute("aria-label", t("hostDeleteLabel", { name: room.name }));
  }

  hideLinks() {
    fill(this.links, h("p", { class: "quiet small links-gone", text: "hostLinksGone" }));
  }

  /** The links just made, with Copy buttons; focus goes to them. @param {Issued} issued */
  showLinks(issued) {
    const id = this.room.id;
    const note = h("p", { class: "small copy-note", role: "status" });
    /** @param {string} kind @param {string} url @param {string} labelKey @param {string} copyKey */
    const row = (kind, url, labelKey, copyKey) => {
      const input = h("input", { type: "text", readonly: true, id: `room-${id}-${kind}`, class: "link-field", spellcheck: "false", autocomplete: "off" });
      input.value = url;
      input.addEventListener("focus", () => input.select());
      const button = h("button", { type: "button", class: "primary small copy-button", "data-copy": kind, "aria-label": t(copyKey) }, t("hostCopy"));
      button.addEventListener("click", () => void copyLink(input, button, note));
      return h("div", { class: "link-row" }, h("label", { for: input.id, class: "field-label small", text: labelKey }), h("div", { class: "link-line" }, input, button));
    };
    const heading = h("h3", { class: "links-title", id: `room-${id}-links-title`, tabindex: "-1", text: "hostLinksTitle" });
    const done = h("button", { type: "button", class: "secondary small", text: "hostLinksDone" });
    done.addEventListener("click", () => {
      this.hideLinks();
      this.title.focus();
    });
    fill(
      this.links,
      h(
        "section",
        { class: "links-panel", "aria-labelledby": `room-${id}-links-title` },
        heading,
        h("p", { class: "small", text: "hostLinksOnce" }),
        row("invite", issued.invite_url, "hostInviteLabel", "hostCopyInvite"),
        row("facilitator", issued.facilitator_url, "hostFacilitatorLabel", "hostCopyFacilitator"),
        note,
        done,
      ),
    );
    heading.focus();
  }

  openEdit() {
    const form = roomFields(`edit-${this.room.id}`, this.room);
    const save = h("button", { type: "submit", class: "primary", text: "hostSave" });
    const cancel = h("button", { type: "button", class: "secondary", text: "cancel", on: { click: () => this.closeEdit() } });
    const el = h(
      "form",
      { class: "room-form", novalidate: true },
      h("h3", {}, t("hostEditTitle", { name: this.room.name })),
      form.nodes,
      h("div", { class: "button-row" }, save, cancel),
    );
    el.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        this.closeEdit();
      }
    });
    el.addEventListener("submit", (e) => {
      e.preventDefault();
      const body = form.read();
      if (!body) return;
      save.disabled = true;
      void this.page.api("PATCH", `/api/rooms/${encodeURIComponent(this.room.id)}`, body).then((answer) => {
        save.disabled = false;
        if (answer.status === 200 && answer.body) {
          this.update({ ...this.room, ...answer.body });
          this.closeEdit();
          announce(t("hostSaved", { name: this.room.name }));
        } else if (answer.status !== 401) {
          setText(form.error, problemText(answer));
          if (answer.status === 404) void this.page.refresh();
        }
      });
    });
    fill(this.editSlot, el);
    show(this.actions, false);
    show(this.editSlot, true);
    form.name.focus();
  }

  closeEdit() {
    fill(this.editSlot);
    show(this.editSlot, false);
    show(this.actions, true);
    this.editButton.focus();
  }

  async rotate() {
    const name = this.room.name;
    const choice = await ask({
      title: t("hostRotateTitle", { name }),
      body: [h("p", { text: "hostRotateText" })],
      buttons: [
        { text: t("cancel"), value: "" },
        { text: t("hostRotateConfirm"), value: "rotate", kind: "danger" },
      ],
    });
    if (choice !== "rotate") return;
    const answer = await this.page.api("POST", `/api/rooms/${encodeURIComponent(this.room.id)}/rotate`);
    if (answer.status === 200 && answer.body) {
      this.showLinks(answer.body);
      announce(t("hostRotated", { name }));
    } else if (answer.status !== 401) this.page.problem(answer);
  }

  async remove() {
    const { name, live } = this.room;
    const choice = await ask({
      title: t("hostDeleteTitle", { name }),
      body: [
        h("p", { text: "hostDeleteText" }),
        live.members + live.waiting > 0 ? h("p", { class: "notice" }, t("hostDeleteLive", { members: live.members, waiting: live.waiting })) : null,
      ],
      buttons: [
        { text: t("cancel"), value: "" },
        { text: t("hostDeleteConfirm"), value: "delete", kind: "danger" },
      ],
    });
    if (choice !== "delete") return;
    const answer = await this.page.api("DELETE", `/api/rooms/${encodeURIComponent(this.room.id)}`);
    if (answer.status === 204 || answer.status === 404) {
      this.page.drop(this.room.id);
      announce(answer.status === 204 ? t("hostDeleted", { name }) : t("hostGone"));
    } else if (answer.status !== 401) this.page.problem(answer);
  }
}

class HostPage {
  constructor() {
    this.main = byId("main");
    this.signOutButton = byId("sign-out");
    this.token = savedToken();
    /** @type {Map<string, RoomCard>} */
    this.cards = new Map();
    this.busy = false;
    // Counts the changes this page made; a list asked for before the latest one is stale.
    this.changes = 0;
    /** @type {ReturnType<typeof setInterval>|undefined} */
    this.timer = undefined;
    applyStrings(document);
    mountLanguageSwitcher(() => {
      for (const card of this.cards.values()) card.update(card.room);
      this.counted();
    });
    this.signOutButton.addEventListener("click", () => this.signOut("hostSignedOut"));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") void this.refresh();
    });
  }

  start() {
    if (this.token) void this.enter(null);
    else this.showSignIn("");
  }

  /**
   * An admin API request with this tab's token; a 401 signs out and says why.
   * @param {string} method @param {string} path @param {object} [body]
   */
  async api(method, path, body) {
    const answer = await call(this.token, method, path, body);
    if (method !== "GET") this.changes += 1;
    if (answer.status === 401 && this.token) this.signOut("hostTokenWrong");
    return answer;
  }

  /** @param {string} messageKey shown on the sign-in form ("" for none) */
  signOut(messageKey) {
    this.token = "";
    keepToken("");
    this.showSignIn(messageKey);
  }

  /** @param {string} message a string key, or "" */
  showSignIn(message) {
    clearInterval(this.timer);
    this.timer = undefined;
    this.cards.clear();
    this.banner("");
    show(this.signOutButton, false);
    const input = h("input", { id: "admin-token", name: "admin-token", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "admin-token-hint sign-in-error" });
    const error = h("p", { class: "form-error", role: "alert", id: "sign-in-error" }, message ? t(message) : "");
    const submit = h("button", { type: "submit", class: "primary big", id: "sign-in-button", text: "hostSignIn" });
    const form = h(
      "form",
      { class: "sign-in-form", novalidate: true },
      h("label", { for: "admin-token", class: "field-label", text: "hostTokenLabel" }),
      h("p", { id: "admin-token-hint", class: "quiet small", text: "hostSignInText" }),
      input,
      error,
      submit,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.signIn(input, error, submit);
    });
    fill(this.main, h("div", { class: "screen host-screen sign-in-screen", id: "screen-sign-in" }, h("section", { class: "card" }, h("h1", { text: "hostSignInTitle" }), form)));
    input.focus();
  }

  /** @param {HTMLInputElement} input @param {HTMLElement} error @param {HTMLButtonElement} submit */
  async signIn(input, error, submit) {
    const token = input.value.trim();
    if (!token) {
      setText(error, t("hostTokenMissing"));
      input.focus();
      return;
    }
    submit.disabled = true;
    setText(submit, t("hostSigningIn"));
    setText(error, "");
    const answer = await call(token, "GET", "/api/rooms");
    submit.disabled = false;
    setText(submit, t("hostSignIn"));
    // 503 means the token passed (authorisation comes first) but live counts did not answer.
    if (answer.status === 200 || answer.status === 503) {
      this.token = token;
      keepToken(token);
      await this.enter(answer);
      return;
    }
    setText(error, answer.status === 401 ? t("hostTokenWrong") : problemText(answer));
    input.setAttribute("aria-invalid", "true");
    input.focus();
    input.select();
  }

  /** The rooms screen, from a first answer when there is one. @param {Answer|null} first */
  async enter(first) {
    show(this.signOutButton, true);
    this.heading = h("h1", { text: "hostRoomsTitle", tabindex: "-1", id: "rooms-title" });
    this.summary = h("p", { class: "rooms-summary", id: "rooms-summary" });
    this.list = h("ul", { class: "room-list", id: "room-list", "aria-labelledby": "rooms-title" });
    this.empty = h("p", { class: "notice", id: "no-rooms", text: "hostNoRooms", hidden: true });
    const form = roomFields("new", {});
    const create = h("button", { type: "submit", class: "primary big", id: "create-room", text: "hostCreate" });
    const createForm = h("form", { class: "room-form", novalidate: true }, form.nodes, create);
    createForm.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.create(form, create);
    });
    fill(
      this.main,
      h(
        "div",
        { class: "screen host-screen", id: "screen-rooms" },
        h("div", { class: "host-intro" }, this.heading, h("p", { class: "quiet", text: "hostRoomsIntro" }), this.summary),
        h(
          "div",
          { class: "host-columns" },
          h("div", { class: "host-rooms" }, this.empty, this.list),
          h("section", { class: "card host-new", "aria-labelledby": "new-title" }, h("h2", { id: "new-title", text: "hostNewTitle" }), createForm),
        ),
      ),
    );
    this.heading.focus();
    if (first) this.take(first);
    else await this.refresh();
    if (!this.token) return; // that refresh found the token refused, and signed out
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.refresh();
    }, REFRESH_MS);
  }

  /** Ask for the list again (never two at once). */
  async refresh() {
    if (this.busy || !this.token || !this.list) return;
    this.busy = true;
    const changes = this.changes;
    try {
      const answer = await this.api("GET", "/api/rooms");
      // A list from before a create, edit or delete this page just made would undo it on
      // screen (and lose links shown once): drop it; the next refresh is moments away.
      if (changes === this.changes) this.take(answer);
    } finally {
      this.busy = false;
    }
  }

  /** @param {Answer} answer a GET /api/rooms answer */
  take(answer) {
    if (answer.status === 200 && Array.isArray(answer.body?.rooms)) {
      this.sync(answer.body.rooms);
      this.banner("");
    } else if (answer.status === 503) this.banner(t("hostLiveUnavailable"));
    else if (answer.status !== 401) this.banner(problemText(answer));
  }

  /** Make the list match the server's, updating cards in place. @param {RoomInfo[]} rooms */
  sync(rooms) {
    const ids = new Set(rooms.map((r) => r.id));
    for (const id of [...this.cards.keys()]) if (!ids.has(id)) this.drop(id);
    rooms.forEach((room, i) => {
      const card = this.upsert(room);
      // Move only what is out of place: moving the element that holds focus would drop it.
      if (this.list.children[i] !== card.el) this.list.insertBefore(card.el, this.list.children[i] || null);
    });
    this.counted();
  }

  /** @param {RoomInfo} room */
  upsert(room) {
    let card = this.cards.get(room.id);
    if (card) card.update(room);
    else {
      card = new RoomCard(this, room);
      this.cards.set(room.id, card);
      this.list.append(card.el);
    }
    return card;
  }

  /** @param {string} id */
  drop(id) {
    const card = this.cards.get(id);
    if (!card) return;
    const hadFocus = card.el.contains(document.activeElement);
    card.el.remove();
    this.cards.delete(id);
    this.counted();
    if (hadFocus || document.activeElement === document.body) this.heading?.focus();
  }

  counted() {
    const rooms = [...this.cards.values()];
    const live = rooms.filter((c) => c.room.live.members + c.room.live.waiting > 0).length;
    const count = t("hostSummaryRooms", { n: rooms.length });
    setText(this.summary, `${count} · ${live ? t("hostSummaryLive", { n: live }) : t("hostSummaryNoneLive")}`);
    show(this.summary, rooms.length > 0);
    show(this.empty, rooms.length === 0);
  }

  /** @param {ReturnType<typeof roomFields>} form @param {HTMLButtonElement} button */
  async create(form, button) {
    const body = form.read();
    if (!body) return;
    button.disabled = true;
    setText(button, t("hostCreating"));
    const answer = await this.api("POST", "/api/rooms", body);
    button.disabled = false;
    setText(button, t("hostCreate"));
    if (answer.status !== 201 || !answer.body) {
      if (answer.status !== 401) {
        setText(form.error, problemText(answer));
        form.name.focus();
      }
      return;
    }
    /** @type {Issued} */
    const issued = answer.body;
    form.set({});
    const card = this.upsert({ ...body, id: issued.id, name: issued.name, live: { members: 0, waiting: 0 } });
    this.counted();
    card.showLinks(issued);
    announce(t("hostCreated", { name: issued.name }));
    void this.refresh();
  }

  /** A refusal said in the banner. @param {Answer} answer */
  problem(answer) {
    this.banner(problemText(answer));
    announce(problemText(answer), true);
    if (answer.status === 404) void this.refresh();
  }

  /** @param {string} text */
  banner(text) {
    const el = byId("status-banner");
    setText(el, text);
    show(el, !!text);
    el.classList.toggle("warning", !!text);
  }
}

new HostPage().start();
