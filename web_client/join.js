// The join page: name, camera and microphone preview, the connection check, the group's
// guidelines to read and accept, then "join".
//
// It asks the node for the room's public face (name, guidelines, crisis resources) with the
// link's token (POST /api/preview) before any hello, so the guidelines are read before they
// are accepted. If that fails, the hello still decides; the page never blocks on it. A link
// the node says is wrong is told at the top of the page and no camera or microphone opens.

import { h, fill, show, setText, announce } from "./dom.js";
import { t } from "./strings.js";
import { openMedia, stopMedia, listDevices, watchLevel, savePrefs } from "./media.js";
import { checkConnection } from "./check.js";
import { icon } from "./icons.js";
import { keepUpcoming, nextMeetingLines, downloadCalendar } from "./schedule.js";

/**
 * @typedef {import("./media.js").Prefs} Prefs
 * @typedef {{name: string, guidelines: string, crisis: string, share_seconds: number, role: string,
 *   ice?: RTCIceServer[], ice_policy?: RTCIceTransportPolicy,
 *   schedule?: import("./schedule.js").Schedule|null, next_start?: number|null, calendar?: string|null}} Preview
 *   `schedule`, `next_start` and `calendar`: the room's regular meeting time, or null (schedule.js)
 * @typedef {{name: string, accept: boolean, stream: MediaStream|null}} JoinChoice
 */

/**
 * The room's public face, or null when the link is bad; throws on network trouble.
 * @param {string} room @param {string} token @returns {Promise<Preview|null|"unavailable">}
 */
export async function fetchPreview(room, token) {
  try {
    const answer = await fetch("/api/preview", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ room, token }),
      credentials: "omit",
      cache: "no-store",
    });
    const body = await answer.json().catch(() => /** @type {any} */ (null));
    if (answer.ok && body && typeof body.guidelines === "string") return body;
    if (answer.status === 404 && body?.error === "bad_token") return null;
    return "unavailable";
  } catch {
    return "unavailable";
  }
}

const MEDIA_WAIT_MS = 6000;

export class JoinScreen {
  /**
   * @param {{room: string, token: string, prefs: Prefs, store: Storage,
   *   candidateFilter: ((line: string) => boolean)|null,
   *   onPreview: (p: Preview) => void, onJoin: (c: JoinChoice) => Promise<string|null>,
   *   onStream: (s: MediaStream|null) => void, notice?: string}} options
   *   `onJoin` resolves with null on success or an error text to show; `onStream` hears of
   *   every change of camera or microphone, also after joining (devices can be slow).
   */
  constructor(options) {
    this.o = options;
    /** @type {MediaStream|null} */
    this.stream = null;
    this.stopLevel = () => {};
    this.role = "member";
    this.checked = false;
    this.disposed = false;
    /** @type {Preview|null} the room's preview once shown, redrawn after a language switch */
    this.shown = null;
    /** @type {Promise<Preview|null|"unavailable">} */
    this.preview = Promise.resolve("unavailable");
    /** @type {Promise<void>} */
    this.mediaReady = Promise.resolve();
    this.el = this.build();
  }

  build() {
    const o = this.o;
    this.roomLine = h("p", { class: "lead" });
    this.notice = h("p", { class: "notice", id: "join-notice", role: "status", hidden: !o.notice }, o.notice || "");
    this.scheduleBox = h("section", { class: "card schedule-card", id: "schedule", hidden: true });
    this.video = h("video", { class: "preview-video mirrored", autoplay: true, muted: true, playsinline: true });
    this.video.muted = true;
    this.videoNote = h("p", { class: "preview-note", hidden: true });
    this.mediaProblem = h("p", { class: "notice", role: "status", hidden: true });
    this.level = h("meter", { class: "level", min: "0", max: "1", value: "0", label: "micLevel" });
    this.camToggle = h("button", { type: "button", class: "round-toggle", "aria-pressed": "true", on: { click: () => this.toggleCamera() } });
    this.micToggle = h("button", { type: "button", class: "round-toggle", "aria-pressed": "true", on: { click: () => this.toggleMic() } });
    this.camSelect = h("select", { id: "camera-select", on: { change: () => this.reopen() } });
    this.micSelect = h("select", { id: "mic-select", on: { change: () => this.reopen() } });
    this.audioOnly = h("input", { type: "checkbox", id: "audio-only", checked: o.prefs.audioOnly, on: { change: () => this.setAudioOnly() } });
    this.receiveNoVideo = h("input", { type: "checkbox", id: "receive-no-video", checked: !o.prefs.receiveVideo, on: { change: () => this.savePrefs() } });

    this.checkResult = h("p", { class: "check-result", role: "status", "aria-live": "polite" });
    this.checkButton = h("button", { type: "button", class: "secondary", text: "checkRun", on: { click: () => this.runCheck() } });

    this.nameInput = h("input", { id: "name", name: "name", type: "text", autocomplete: "off", maxlength: "40", required: true, "aria-describedby": "name-hint", spellcheck: "false" });
    this.guidelines = h("div", { class: "guidelines preserve-lines", id: "guidelines", tabindex: "0", role: "region", label: "guidelinesTitle" }, t("guidelinesDefault"));
    this.accept = h("input", { type: "checkbox", id: "accept", required: true });
    this.acceptRow = h("div", { class: "check-row accept-row" }, this.accept, h("label", { for: "accept", text: "acceptLabel" }));
    this.facilitatorNote = h("p", { class: "notice", hidden: true, text: "joinFacilitatorNote" });
    this.error = h("p", { class: "form-error", role: "alert", id: "join-error" });
    this.submit = h("button", { type: "submit", class: "primary big", id: "join-button", text: "joinButton" });

    const form = h(
      "form",
      { class: "join-form", novalidate: true, on: { submit: (/** @type {Event} */ e) => this.onSubmit(e) } },
      h("section", { class: "card confidential" }, h("h2", { text: "confidentialityTitle" }), h("p", { text: "confidentialityText" }), h("p", { class: "quiet", text: "notRecordedLong" })),
      h(
        "section",
        { class: "card media-card", "aria-labelledby": "media-title" },
        h("h2", { id: "media-title", class: "sr-only", text: "previewLabel" }),
        h("div", { class: "preview" }, this.video, this.videoNote),
        h("div", { class: "preview-controls" }, this.micToggle, this.camToggle, h("div", { class: "level-wrap" }, this.level, h("span", { class: "quiet small", text: "micLevelHint" }))),
        this.mediaProblem,
        h(
          "div",
          { class: "devices" },
          h("label", { for: "camera-select", text: "cameraChoice" }),
          this.camSelect,
          h("label", { for: "mic-select", text: "micChoice" }),
          this.micSelect,
        ),
        h("div", { class: "check-row" }, this.audioOnly, h("label", { for: "audio-only", text: "audioOnly" })),
        h("div", { class: "check-row" }, this.receiveNoVideo, h("label", { for: "receive-no-video", text: "receiveNoVideo" })),
        h("div", { class: "check" }, h("h3", { text: "checkTitle" }), this.checkResult, this.checkButton),
      ),
      h(
        "section",
        { class: "card" },
        h("label", { for: "name", class: "field-label", text: "nameLabel" }),
        h("p", { id: "name-hint", class: "quiet small", text: "nameHint" }),
        this.nameInput,
      ),
      h("section", { class: "card" }, h("h2", { text: "guidelinesTitle" }), this.guidelines, this.acceptRow, this.facilitatorNote),
      this.error,
      this.submit,
    );
    return h(
      "div",
      { class: "screen join-screen", id: "screen-join" },
      this.notice,
      h("h1", { text: "joinTitle" }),
      this.roomLine,
      this.scheduleBox,
      h("p", { class: "quiet", text: "joinWelcome" }),
      form,
    );
  }

  /** @param {Element} main */
  async mount(main) {
    fill(main, this.el);
    this.nameInput.focus();
    const preview = fetchPreview(this.o.room, this.o.token);
    this.preview = preview; // the connection check waits for its ICE servers
    const p = await preview;
    if (p === null) {
      // A wrong or old link: say so where it is seen first, and open no camera for it.
      fill(
        main,
        h(
          "div",
          { class: "screen landing", id: "screen-bad-link" },
          h("section", { class: "card center" }, h("h1", { text: "badLinkTitle" }), h("p", { class: "lead", role: "alert", id: "join-error" }, t("badToken"))),
        ),
      );
      return;
    }
    if (this.disposed) return;
    this.mediaReady = this.openDevices();
    if (p === "unavailable") {
      fill(this.guidelines, t("guidelinesDefault"), h("br"), h("br"), h("em", {}, t("guidelinesUnavailable")));
      return;
    }
    this.o.onPreview(p);
    this.shown = p;
    setText(this.roomLine, t("joinRoom", { room: p.name }));
    this.showSchedule(p);
    if (p.guidelines.trim()) setText(this.guidelines, p.guidelines);
    this.role = p.role;
    if (p.role === "facilitator") {
      show(this.acceptRow, false);
      show(this.facilitatorNote, true);
      setText(this.submit, t("joinFacilitator"));
    }
  }

  /** After a language switch: the lines drawn from the preview (`data-s` nodes are done). */
  relabel() {
    const p = this.shown;
    if (!p) return;
    setText(this.roomLine, t("joinRoom", { room: p.name }));
    this.showSchedule(p);
    if (!p.guidelines.trim()) setText(this.guidelines, t("guidelinesDefault"));
    setText(this.submit, t(p.role === "facilitator" ? "joinFacilitator" : "joinButton"));
  }

  /** The next meeting in the reader's time zone and the calendar file, when the room has a regular time. @param {Preview} p */
  showSchedule(p) {
    const upcoming = p.schedule && typeof p.next_start === "number" ? { next_start: p.next_start, duration_minutes: p.schedule.duration_minutes } : null;
    keepUpcoming(sessionStorage, this.o.room, upcoming); // for the lobby's countdown
    if (!upcoming || !p.schedule) return;
    const lines = nextMeetingLines(p.schedule, upcoming.next_start, Date.now());
    const calendar = p.calendar;
    const download = calendar
      ? h("button", {
          type: "button",
          class: "secondary small",
          id: "calendar-download",
          text: "calendarDownload",
          "aria-describedby": "calendar-hint",
          on: {
            click: () => {
              downloadCalendar(calendar);
              announce(t("calendarSaved"));
            },
          },
        })
      : null;
    fill(
      this.scheduleBox,
      h("p", { class: "next-meeting", id: "next-meeting" }, lines.when),
      h("p", { class: "quiet small" }, lines.rhythm),
      download,
      download ? h("p", { class: "quiet small", id: "calendar-hint", text: "calendarHint" }) : null,
    );
    show(this.scheduleBox, true);
  }

  /** The page moves on without joining (another link opened in this tab): let go of devices. */
  dispose() {
    this.disposed = true;
    this.stopLevel();
    stopMedia(this.stream);
    this.stream = null;
  }

  async openDevices() {
    const prefs = this.o.prefs;
    const opened = await openMedia({ audioDevice: prefs.audioDevice, videoDevice: prefs.videoDevice, video: !prefs.audioOnly });
    if (this.disposed) {
      stopMedia(opened.stream);
      return;
    }
    this.useStream(opened.stream);
    if (opened.problem && !(opened.problem === "none" && opened.audio)) {
      const key = { blocked: "mediaBlocked", busy: "mediaBusy", none: "noCamera" }[opened.problem] || "mediaFailed";
      setText(this.mediaProblem, t(key));
      show(this.mediaProblem, true);
    } else if (opened.problem === "none") {
      setText(this.mediaProblem, t("noCamera"));
      show(this.mediaProblem, true);
    }
    await this.listDevices();
    if (!this.checked) {
      this.checked = true;
      void this.runCheck();
    }
  }

  /** @param {MediaStream|null} stream */
  useStream(stream) {
    this.stopLevel();
    this.stream = stream;
    this.video.srcObject = stream;
    this.video.play().catch(() => {});
    this.stopLevel = stream ? watchLevel(stream, (v) => (this.level.value = v)) : () => {};
    this.refreshToggles();
    this.o.onStream(stream);
  }

  refreshToggles() {
    const cam = this.stream?.getVideoTracks()[0];
    const mic = this.stream?.getAudioTracks()[0];
    const camOn = !!cam && cam.enabled;
    const micOn = !!mic && mic.enabled;
    this.camToggle.setAttribute("aria-pressed", String(camOn));
    this.camToggle.setAttribute("aria-label", t(camOn ? "cameraToggleOn" : "cameraToggleOff"));
    fill(this.camToggle, icon(camOn ? "camera" : "cameraOff"));
    this.camToggle.disabled = !cam && this.audioOnly.checked;
    this.micToggle.setAttribute("aria-pressed", String(micOn));
    this.micToggle.setAttribute("aria-label", t(micOn ? "micToggleOn" : "micToggleOff"));
    fill(this.micToggle, icon(micOn ? "mic" : "micOff"));
    this.micToggle.disabled = !mic;
    setText(this.videoNote, t("cameraOff"));
    show(this.videoNote, !camOn);
  }

  toggleCamera() {
    const cam = this.stream?.getVideoTracks()[0];
    if (cam) cam.enabled = !cam.enabled;
    else void this.reopen();
    this.refreshToggles();
  }

  toggleMic() {
    const mic = this.stream?.getAudioTracks()[0];
    if (mic) mic.enabled = !mic.enabled;
    this.refreshToggles();
  }

  async listDevices() {
    const devices = await listDevices();
    /** @param {HTMLSelectElement} select @param {MediaDeviceInfo[]} list @param {string} current */
    const put = (select, list, current) => {
      fill(select, h("option", { value: "" }, t("deviceDefault")), list.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${i + 1}`)));
    };
    const cam = this.stream?.getVideoTracks()[0]?.getSettings().deviceId || this.o.prefs.videoDevice;
    const mic = this.stream?.getAudioTracks()[0]?.getSettings().deviceId || this.o.prefs.audioDevice;
    put(this.camSelect, devices.video, cam);
    put(this.micSelect, devices.audio, mic);
  }

  async reopen() {
    this.savePrefs();
    stopMedia(this.stream);
    this.useStream(null);
    await this.openDevices();
  }

  setAudioOnly() {
    void this.reopen();
  }

  savePrefs() {
    const prefs = this.o.prefs;
    prefs.videoDevice = this.camSelect.value;
    prefs.audioDevice = this.micSelect.value;
    prefs.audioOnly = this.audioOnly.checked;
    prefs.receiveVideo = !this.receiveNoVideo.checked;
    savePrefs(this.o.store, prefs);
  }

  async runCheck() {
    this.checkButton.disabled = true;
    setText(this.checkResult, t("checkRunning"));
    // The host's STUN/TURN from the preview; without them the check still runs, host-only.
    const p = await this.preview;
    const ice = p && typeof p === "object" ? { iceServers: p.ice || [], iceTransportPolicy: p.ice_policy || "all" } : {};
    const result = await checkConnection({ stream: this.stream, candidateFilter: this.o.candidateFilter, ...ice });
    const key = { good: "checkGood", audio: "checkAudio", poor: "checkPoor", busy: "checkBusy", untested: "checkUntested" }[result.verdict];
    let text = t(key);
    if (result.rttMs !== null && result.loss !== null) {
      text += " " + t("checkDetails", { rtt: Math.round(result.rttMs), loss: Math.round(result.loss * 100) });
    }
    setText(this.checkResult, text);
    this.checkResult.dataset.verdict = result.verdict;
    if ((result.verdict === "audio" || result.verdict === "poor") && !this.audioOnly.checked) {
      this.audioOnly.checked = true;
      this.setAudioOnly();
    }
    this.checkButton.disabled = false;
  }

  /** @param {Event} event */
  async onSubmit(event) {
    event.preventDefault();
    const name = this.nameInput.value.trim();
    if (!name) {
      setText(this.error, t("nameMissing"));
      this.nameInput.setAttribute("aria-invalid", "true");
      this.nameInput.focus();
      return;
    }
    this.nameInput.removeAttribute("aria-invalid");
    const needsAccept = this.role !== "facilitator";
    if (needsAccept && !this.accept.checked) {
      setText(this.error, t("acceptMissing"));
      this.accept.focus();
      return;
    }
    setText(this.error, "");
    this.savePrefs();
    this.submit.disabled = true;
    const label = this.submit.textContent || "";
    setText(this.submit, t("joining"));
    // Give the camera and microphone a moment to open, so the circle hears you from the start.
    await Promise.race([this.mediaReady, new Promise((r) => setTimeout(r, MEDIA_WAIT_MS))]);
    const problem = await this.o.onJoin({ name, accept: needsAccept ? this.accept.checked : true, stream: this.stream });
    if (problem) {
      setText(this.error, problem);
      this.submit.disabled = false;
      setText(this.submit, label);
      return;
    }
    this.stopLevel();
  }
}
