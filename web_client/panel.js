// The facilitator's panel: the waiting room, the round, the circle order, raised hands,
// people, support notes and the room itself.
//
// Rules: every action is a `cmd` the server judges; the panel only offers what makes sense
// now. Lists are redrawn only when what they show changed, and focus comes back to the same
// item after a redraw, so keyboard users are never thrown to the top. Airtime is counted in
// this page's memory (airtime.js) and never sent.

import { h, fill, setText, show, clock, ask, announce, pausedText } from "./dom.js";
import { t, language } from "./strings.js";
import { Airtime } from "./airtime.js";
import { memberOf, nameOf, secondsLeft } from "./room.js";

/**
 * @typedef {import("./room.js").View} View
 * @typedef {import("./circle.js").Local} Local
 * @typedef {{command: (op: string, args?: Record<string, any>) => Promise<boolean>, now: () => number,
 *   setCountdown: (who: "everyone"|"speaker") => void}} PanelActions
 */

/** @param {string} titleKey @param {...(Node|string|null)} children */
function section(titleKey, ...children) {
  const title = h("h3", { class: "panel-heading" });
  setText(title, t(titleKey, { count: 0 }));
  return { title, el: h("section", { class: "panel-section" }, title, ...children) };
}

/**
 * Redraw `container` with `build()` only when `signature` changed; keep focus on the item
 * with the same `data-focus` key.
 * @param {HTMLElement & {lastSignature?: string}} container @param {string} signature @param {() => (Node|null)[]} build
 */
function redraw(container, signature, build) {
  if (container.lastSignature === signature) return;
  container.lastSignature = signature;
  const active = document.activeElement;
  const key = active instanceof HTMLElement && container.contains(active) ? active.dataset.focus : undefined;
  fill(container, build());
  if (key) /** @type {HTMLElement|null} */ (container.querySelector(`[data-focus="${CSS.escape(key)}"]`))?.focus();
}

export class FacilitatorPanel {
  /** @param {PanelActions} actions */
  constructor(actions) {
    this.a = actions;
    this.airtime = new Airtime();
    /** @type {Map<string, HTMLElement>} */
    this.airtimeCells = new Map();
    /** @type {string|null} */
    this.dragging = null;
    this.build();
  }

  build() {
    const cmd = this.a.command;
    // --- waiting room
    this.lobbyList = h("ul", { class: "plain-list", id: "lobby-list" });
    this.admitAll = h("button", { type: "button", class: "secondary small", id: "admit-all", text: "admitAll", on: { click: () => cmd("admit_all") } });
    this.lobbyMessage = h("input", { type: "text", id: "lobby-message", maxlength: "300", placeholder: t("lobbyMessagePlaceholder") });
    this.lobby = section(
      "lobbySection",
      this.lobbyList,
      this.admitAll,
      h(
        "form",
        { class: "inline-form", on: { submit: (/** @type {Event} */ e) => { e.preventDefault(); this.sendLobbyMessage(); } } },
        h("label", { for: "lobby-message", class: "small", text: "lobbyMessageLabel" }),
        h("div", { class: "row" }, this.lobbyMessage, h("button", { type: "submit", class: "secondary small", text: "send" })),
      ),
    );

    // --- the round
    this.seconds = h("input", { type: "number", id: "round-minutes", min: "0.25", max: "120", step: "0.25", value: "3", inputmode: "decimal" });
    this.kind = h("select", { id: "round-kind" }, ["share", "check_in", "check_out"].map((k) => h("option", { value: k }, t(`kind_${k}`))));
    this.orderPreset = h("select", { id: "round-order" }, ["manual", "arrival", "shuffle", "facilitator_last"].map((k) => h("option", { value: k }, t(`order_${k}`))));
    this.secondPass = h("input", { type: "checkbox", id: "round-second-pass", checked: true });
    // Moving the piece on by itself is the facilitator's explicit choice, off by default: at
    // the deadline the speaker gets a gentle cue and keeps the piece (issue 17).
    this.autoMove = h("input", { type: "checkbox", id: "round-auto-move", "aria-describedby": "round-auto-move-hint", on: { change: () => { this.overtime.disabled = !this.autoMove.checked; } } });
    this.overtime = h(
      "select",
      { id: "round-overtime", disabled: true },
      [15, 30, 60, 120].map((n) => h("option", { value: String(n), selected: n === 30 }, t("roundAutoMoveSeconds", { n }))),
    );
    this.countdownChoice = h(
      "select",
      { id: "round-countdown", on: { change: () => this.a.setCountdown(/** @type {any} */ (this.countdownChoice.value)) } },
      h("option", { value: "everyone" }, t("countdownEveryone")),
      h("option", { value: "speaker" }, t("countdownSpeaker")),
    );
    this.roundForm = h(
      "form",
      { class: "round-form", id: "round-form", on: { submit: (/** @type {Event} */ e) => { e.preventDefault(); this.startRound(); } } },
      h("label", { for: "round-minutes", text: "roundSeconds" }),
      this.seconds,
      h("label", { for: "round-kind", text: "roundKind" }),
      this.kind,
      h("label", { for: "round-order", text: "roundOrder" }),
      this.orderPreset,
      h("div", { class: "check-row" }, this.autoMove, h("label", { for: "round-auto-move", text: "roundAutoMove" })),
      h("p", { class: "quiet small", id: "round-auto-move-hint", text: "roundAutoMoveHint" }),
      h("label", { for: "round-overtime", text: "roundAutoMoveAfter" }),
      this.overtime,
      h("div", { class: "check-row" }, this.secondPass, h("label", { for: "round-second-pass", text: "roundSecondPass" })),
      h("button", { type: "submit", class: "primary", id: "start-round", text: "startRound" }),
    );
    this.roundNow = h("p", { class: "round-now", id: "round-now" });
    this.pauseButton = h("button", { type: "button", class: "secondary small", id: "pause-button", on: { click: () => this.togglePause() } }, t("pause"));
    /** @param {string} op @param {string} key @param {Record<string, any>} [args] */
    const b = (op, key, args) => h("button", { type: "button", class: "secondary small", id: `round-${op}`, on: { click: () => cmd(op, args) } }, t(key));
    this.roundControls = h(
      "div",
      { class: "round-controls", id: "round-controls" },
      this.roundNow,
      h("div", { class: "button-row" }, b("back", "back"), this.pauseButton, b("extend", "extend", { seconds: 60 }), b("skip", "skip"), b("next", "next")),
      h("button", { type: "button", class: "quiet-button small", id: "round-end", text: "endRound", on: { click: () => cmd("end_round") } }),
    );
    this.round = section("roundSection", this.roundForm, this.roundControls, h("label", { for: "round-countdown", class: "small", text: "timerVisibility" }), this.countdownChoice);

    // --- the circle's order
    this.orderList = h("ol", { class: "order-list", id: "order-list" });
    this.order = section("orderSection", h("p", { class: "quiet small", text: "orderHint" }), this.orderList);

    // --- hands
    this.handList = h("ol", { class: "plain-list", id: "hand-list" });
    this.floorLine = h("div", { class: "floor-line", hidden: true });
    this.hands = section("handsSection", this.floorLine, this.handList);

    // --- people
    this.peopleList = h("ul", { class: "plain-list people-list", id: "people-list" });
    this.people = section("peopleSection", h("p", { class: "quiet small", text: "airtimeHint" }), this.peopleList);

    // --- support notes: kept by the server until a facilitator marks them seen (issue 17)
    this.noteList = h("ol", { class: "plain-list notes", id: "note-list", "aria-live": "off" });
    this.notes = section("notesSection", this.noteList);
    this.notes.el.id = "notes-section";

    // --- the room
    this.topicInput = h("input", { type: "text", id: "topic-input", maxlength: "200" });
    this.lockButton = h("button", { type: "button", class: "secondary small", id: "lock-button", on: { click: () => cmd(this.view?.state.locked ? "unlock" : "lock") } });
    this.returningBox = h("input", { type: "checkbox", id: "returning-toggle", checked: true, on: { change: () => cmd("set_returning", { returning: this.returningBox.checked ? "welcome" : "knock" }) } });
    // issue 17: who takes the role if the last facilitator drops (`set_successor`)
    this.successorPick = h("select", { id: "successor-pick", "aria-describedby": "successor-hint", on: { change: () => cmd("set_successor", this.successorPick.value ? { member: this.successorPick.value } : {}) } });
    this.roomSection = section(
      "roomSection",
      h(
        "form",
        { class: "inline-form", on: { submit: (/** @type {Event} */ e) => { e.preventDefault(); void cmd("set_topic", { text: this.topicInput.value.trim() || null }); } } },
        h("label", { for: "topic-input", class: "small", text: "topicInput" }),
        h(
          "div",
          { class: "row" },
          this.topicInput,
          h("button", { type: "submit", class: "secondary small", id: "topic-set", text: "topicSet" }),
          h("button", { type: "button", class: "quiet-button small", text: "topicClear", on: { click: () => { this.topicInput.value = ""; void cmd("set_topic", {}); } } }),
        ),
      ),
      this.lockButton,
      h("p", { class: "quiet small", text: "lockHint" }),
      // issue 17, never stranded: whether people here earlier come back without knocking
      h("div", { class: "check-row" }, this.returningBox, h("label", { for: "returning-toggle", text: "returningLabel" })),
      h("p", { class: "quiet small", text: "returningHint" }),
      h("label", { for: "successor-pick", class: "small", text: "successorLabel" }),
      this.successorPick,
      h("p", { class: "quiet small", id: "successor-hint", text: "successorHint" }),
      h("button", { type: "button", class: "danger", id: "end-meeting", text: "endMeeting", on: { click: () => this.endMeeting() } }),
    );

    this.el = h(
      "section",
      { class: "panel facilitator-panel", id: "facilitator-panel", "aria-labelledby": "panel-title" },
      h("h2", { id: "panel-title", tabindex: "-1", text: "panelTitle" }),
      this.lobby.el,
      this.round.el,
      this.hands.el,
      this.order.el,
      this.people.el,
      this.notes.el,
      this.roomSection.el,
    );
  }

  /** @param {View} view @param {Local} local */
  update(view, local) {
    const first = !this.view;
    this.view = view;
    const s = view.state;
    const now = this.a.now();
    this.airtime.update(s.round ? (s.round.paused ? null : s.round.speaker) : s.floor, now);
    if (first) {
      this.seconds.value = String(Math.round((s.share_seconds / 60) * 4) / 4);
      if (s.topic) this.topicInput.value = s.topic;
    }
    this.countdownChoice.value = local.countdown;

    // waiting room
    setText(this.lobby.title, t("lobbySection", { count: s.waiting.length }));
    show(this.admitAll, s.waiting.length > 1);
    redraw(this.lobbyList, JSON.stringify(s.waiting), () =>
      s.waiting.length === 0
        ? [h("li", { class: "quiet small", text: "lobbyEmpty" })]
        : s.waiting.map((w) =>
            h(
              "li",
              { class: "person-row" },
              h("span", { class: "person-name" }, w.name),
              h(
                "span",
                { class: "row-buttons" },
                h("button", { type: "button", class: "primary small", "data-focus": `admit-${w.id}`, "aria-label": t("admitLabel", { name: w.name }), on: { click: () => this.a.command("admit", { member: w.id }) } }, t("admit")),
                h("button", { type: "button", class: "quiet-button small", "data-focus": `deny-${w.id}`, "aria-label": t("denyLabel", { name: w.name }), on: { click: () => this.a.command("deny", { member: w.id }) } }, t("deny")),
              ),
            ),
          ),
    );

    // round
    show(this.roundForm, !s.round);
    show(this.roundControls, !!s.round);
    if (s.round) {
      setText(this.pauseButton, t(s.round.paused ? "unpause" : "pause"));
      this.pauseButton.disabled = !s.round.speaker;
    }

    // order
    const order = s.order.filter((id) => memberOf(view, id));
    redraw(this.orderList, JSON.stringify([order, s.members.map((m) => m.name)]), () =>
      order.map((id, i) => {
        const name = nameOf(view, id);
        const li = h(
          "li",
          {
            class: "order-item",
            draggable: "true",
            tabindex: "0",
            "data-id": id,
            "data-focus": `order-${id}`,
            "aria-label": t("orderItem", { name, n: i + 1, count: order.length }),
          },
          h("span", { class: "grip", "aria-hidden": "true" }, "⠿"),
          h("span", { class: "person-name" }, name),
          h(
            "span",
            { class: "row-buttons" },
            h("button", { type: "button", class: "icon-button", "data-focus": `up-${id}`, disabled: i === 0, "aria-label": t("moveUp", { name }), on: { click: () => this.move(id, -1) } }, "↑"),
            h("button", { type: "button", class: "icon-button", "data-focus": `down-${id}`, disabled: i === order.length - 1, "aria-label": t("moveDown", { name }), on: { click: () => this.move(id, 1) } }, "↓"),
          ),
        );
        this.wireDrag(li, id);
        return li;
      }),
    );

    // hands
    const floor = s.floor;
    show(this.floorLine, !!floor);
    if (floor) {
      redraw(this.floorLine, `floor-${floor}-${nameOf(view, floor)}`, () => [
        h("span", {}, t("floorNow", { name: nameOf(view, floor) })),
        h("button", { type: "button", class: "secondary small", "data-focus": "floor-clear", on: { click: () => this.a.command("done") } }, t("clearFloor")),
      ]);
    }
    redraw(this.handList, JSON.stringify([s.hands, !!s.round, s.hands.map((id) => nameOf(view, id))]), () => {
      if (s.hands.length === 0) return [h("li", { class: "quiet small", text: "handsEmpty" })];
      return [
        s.round ? h("li", { class: "quiet small", text: "handsPausedInRound" }) : null,
        ...s.hands.map((id, i) => {
          const name = nameOf(view, id);
          return h(
            "li",
            { class: "person-row" },
            h("span", { class: "person-name" }, `${i + 1}. ${name}`),
            h(
              "span",
              { class: "row-buttons" },
              h("button", { type: "button", class: "primary small", disabled: !!s.round, "data-focus": `call-${id}`, "aria-label": t("callOnLabel", { name }), on: { click: () => this.a.command("call_on", { member: id }) } }, t("callOn")),
              h("button", { type: "button", class: "quiet-button small", "data-focus": `lower-${id}`, "aria-label": t("lowerHandLabel", { name }), on: { click: () => this.a.command("lower_hand", { member: id }) } }, t("lowerHand")),
            ),
          );
        }),
      ];
    });

    // people
    setText(this.people.title, t("peopleSection", { count: s.members.length }));
    redraw(this.peopleList, JSON.stringify(s.members), () => {
      this.airtimeCells.clear();
      return s.members.map((m) => {
        const mine = m.id === view.me;
        const cell = h("span", { class: "airtime quiet small" });
        this.airtimeCells.set(m.id, cell);
        const inOrder = s.order.includes(m.id);
        return h(
          "li",
          { class: "person-row wrap" },
          h("span", { class: "person-name" }, mine ? t("youSuffix", { name: m.name }) : m.name, m.role === "facilitator" ? h("span", { class: "badge facilitator" }, t("badgeFacilitator")) : null),
          cell,
          h(
            "span",
            { class: "row-buttons" },
            !mine && !m.muted ? h("button", { type: "button", class: "secondary small", "data-focus": `mute-${m.id}`, "aria-label": t("muteLabel", { name: m.name }), on: { click: () => this.a.command("mute", { member: m.id }) } }, t("mute")) : null,
            !inOrder ? h("button", { type: "button", class: "secondary small", "data-focus": `add-${m.id}`, on: { click: () => this.a.command("set_order", { members: [...s.order, m.id] }) } }, "+ " + t("orderSection")) : null,
            !mine && m.role === "member" ? h("button", { type: "button", class: "secondary small", "data-focus": `promote-${m.id}`, on: { click: () => this.a.command("promote", { member: m.id }) } }, t("promote")) : null,
            !mine && m.role === "facilitator" ? h("button", { type: "button", class: "secondary small", "data-focus": `demote-${m.id}`, on: { click: () => this.a.command("demote", { member: m.id }) } }, t("demote")) : null,
            !mine && m.role === "member" ? h("button", { type: "button", class: "secondary small", "data-focus": `handover-${m.id}`, on: { click: () => this.handOver(m.id) } }, t("handOver")) : null,
            !mine ? h("button", { type: "button", class: "danger small", "data-focus": `remove-${m.id}`, "aria-label": t("removeLabel", { name: m.name }), on: { click: () => this.remove(m.id) } }, t("remove")) : null,
          ),
        );
      });
    });

    // notes: the newest first, unseen ones with "Mark as seen"
    const unseen = view.notes.filter((n) => !n.seen).length;
    setText(this.notes.title, unseen ? t("notesUnseen", { count: unseen }) : t("notesSection"));
    redraw(this.noteList, JSON.stringify([view.notes, s.members.map((m) => m.id), s.waiting.map((w) => w.id)]), () =>
      view.notes.length === 0
        ? [h("li", { class: "quiet small", text: "notesEmpty" })]
        : [...view.notes].reverse().map((n) => {
            const here = !!memberOf(view, n.from) || s.waiting.some((w) => w.id === n.from);
            const name = here ? n.name || nameOf(view, n.from) : t("noteFromLeft", { name: n.name || "?" });
            return h(
              "li",
              { class: n.seen ? "note seen" : "note unseen", "data-note": String(n.id) },
              h("span", { class: "chat-name" }, name),
              h("time", { class: "chat-time" }, new Date(n.at * 1000).toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" })),
              h("p", { class: "chat-text" }, n.text),
              n.seen
                ? h("span", { class: "quiet small" }, t("noteWasSeen"))
                : h("button", { type: "button", class: "secondary small", "data-focus": `seen-${n.id}`, "aria-label": t("noteSeenLabel", { name: n.name }), on: { click: () => this.a.command("support_seen", { note: n.id }) } }, t("noteSeen")),
            );
          }),
    );

    // room
    setText(this.lockButton, t(s.locked ? "unlock" : "lock"));
    this.lockButton.setAttribute("aria-pressed", String(s.locked));
    this.returningBox.checked = s.returning !== "knock";
    const candidates = s.members.filter((m) => m.role === "member");
    redraw(this.successorPick, JSON.stringify(candidates.map((m) => [m.id, m.name])), () => [
      h("option", { value: "" }, t("successorNone")),
      ...candidates.map((m) => h("option", { value: m.id }, m.name)),
    ]);
    this.successorPick.value = s.successor && candidates.some((m) => m.id === s.successor) ? s.successor : "";
    this.tick(now);
  }

  /** @param {number} now */
  tick(now) {
    const view = this.view;
    if (!view) return;
    const s = view.state;
    if (s.round) {
      const speaker = s.round.speaker;
      const left = secondsLeft(s.round, now);
      setText(this.roundNow, speaker ? `${t("roundNow", { name: nameOf(view, speaker) })} · ${s.round.paused ? pausedText(s.round) : clock(left ?? 0)}` : t("roundNobody"));
    }
    for (const [id, cell] of this.airtimeCells) setText(cell, t("airtime", { time: clock(this.airtime.of(id, now)) }));
  }

  sendLobbyMessage() {
    const text = this.lobbyMessage.value.trim();
    if (!text) return;
    void this.a.command("lobby_message", { text }).then((ok) => {
      if (ok) this.lobbyMessage.value = "";
    });
  }

  startRound() {
    const minutes = Number(this.seconds.value);
    const seconds = Math.max(1, Math.min(7200, Math.round((Number.isFinite(minutes) ? minutes : 3) * 60)));
    /** @type {Record<string, any>} */
    const args = { seconds, order: this.orderPreset.value, kind: this.kind.value, second_pass: this.secondPass.checked };
    // Left out, the piece never moves on by itself.
    if (this.autoMove.checked) args.overtime = Number(this.overtime.value);
    void this.a.command("start_round", args);
  }

  togglePause() {
    const round = this.view?.state.round;
    if (round) void this.a.command(round.paused ? "unpause" : "pause");
  }

  /** Move someone one place up (-1) or down (+1). @param {string} id @param {number} by */
  move(id, by) {
    const order = [...(this.view?.state.order || [])];
    const i = order.indexOf(id);
    const j = i + by;
    if (i < 0 || j < 0 || j >= order.length) return;
    order.splice(i, 1);
    order.splice(j, 0, id);
    this.setOrder(order, id);
  }

  /** @param {string[]} order @param {string} moved */
  setOrder(order, moved) {
    const view = this.view;
    if (!view) return;
    void this.a.command("set_order", { members: order }).then((ok) => {
      if (ok) announce(t("orderMoved", { name: nameOf(view, moved), n: order.indexOf(moved) + 1 }));
    });
  }

  /** @param {HTMLElement} li @param {string} id */
  wireDrag(li, id) {
    li.addEventListener("keydown", (e) => {
      if (e.target !== li) return;
      if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
        e.preventDefault();
        this.move(id, e.key === "ArrowUp" ? -1 : 1);
      }
    });
    li.addEventListener("dragstart", (e) => {
      this.dragging = id;
      li.classList.add("dragging");
      e.dataTransfer?.setData("text/plain", id);
      if (e.dataTransfer) e.dataTransfer.effectAllowed = "move";
    });
    li.addEventListener("dragend", () => {
      this.dragging = null;
      li.classList.remove("dragging");
      for (const el of this.orderList.querySelectorAll(".drop-before, .drop-after")) el.classList.remove("drop-before", "drop-after");
    });
    li.addEventListener("dragover", (e) => {
      if (!this.dragging || this.dragging === id) return;
      e.preventDefault();
      const after = e.offsetY > li.offsetHeight / 2;
      li.classList.toggle("drop-after", after);
      li.classList.toggle("drop-before", !after);
    });
    li.addEventListener("dragleave", () => li.classList.remove("drop-before", "drop-after"));
    li.addEventListener("drop", (e) => {
      e.preventDefault();
      const dragged = this.dragging || e.dataTransfer?.getData("text/plain") || "";
      const after = li.classList.contains("drop-after");
      li.classList.remove("drop-before", "drop-after");
      const order = (this.view?.state.order || []).filter((x) => x !== dragged);
      if (!dragged || dragged === id) return;
      const at = order.indexOf(id) + (after ? 1 : 0);
      order.splice(at, 0, dragged);
      this.setOrder(order, dragged);
    });
  }

  /** @param {string} id */
  async remove(id) {
    const view = this.view;
    if (!view) return;
    const name = nameOf(view, id);
    const block = h("input", { type: "checkbox", id: "remove-block" });
    const choice = await ask({
      title: t("removeTitle", { name }),
      body: [h("p", { text: "removeText" }), h("div", { class: "check-row" }, block, h("label", { for: "remove-block", text: "removeBlock" }))],
      buttons: [
        { text: t("cancel"), value: "" },
        { text: t("remove"), value: "remove", kind: "danger" },
      ],
    });
    if (choice === "remove") void this.a.command("remove", block.checked ? { member: id, block: true } : { member: id });
  }

  /** @param {string} id */
  async handOver(id) {
    const view = this.view;
    if (!view) return;
    const choice = await ask({
      title: t("handOver"),
      body: [h("p", {}, t("handOverConfirm", { name: nameOf(view, id) }))],
      buttons: [
        { text: t("cancel"), value: "" },
        { text: t("handOver"), value: "yes", kind: "primary" },
      ],
    });
    if (choice === "yes") void this.a.command("hand_over", { member: id });
  }

  async endMeeting() {
    const choice = await ask({
      title: t("endMeetingTitle"),
      body: [h("p", { text: "endMeetingText" })],
      buttons: [
        { text: t("cancel"), value: "" },
        { text: t("endMeeting"), value: "end", kind: "danger" },
      ],
    });
    if (choice === "end") void this.a.command("end_meeting");
  }
}
