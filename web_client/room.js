// The room as this person sees it: the welcome's snapshot, kept current by events.
//
// Rules of this module:
// - No DOM, no I/O: `viewFromWelcome` builds a view, `applyEvent` folds one event into it and
//   says what happened (for announcements). The server decides everything; this only mirrors.
// - Every `welcome` replaces the view whole (let in, promoted, a fresh snapshot after resume).
// - Chat and reactions are kept in memory only, bounded. Support notes are the server's
//   (the facilitators' snapshot `notes`, kept current by `support` and `support_seen`).

const CHAT_KEEP = 300;
const NOTES_KEEP = 50; // as many as the room keeps (rooms/state.py MAX_SUPPORT_NOTES)

/**
 * @typedef {{id: string, name: string, role: string, away: boolean, muted: boolean, reconnecting: boolean}} Member
 * @typedef {{id: string, name: string, position: number, reconnecting: boolean}} Waiting
 * @typedef {{kind: string, seconds: number, share_seconds: number, overtime: number|null,
 *   second_pass: boolean, pass_no: number, speaker: string|null, next: string|null, turn_id: string|null,
 *   deadline: number|null, paused: boolean, remaining: number|null, time_up: boolean,
 *   pause_reason?: string|null, passed: string[]}} Round
 * @typedef {{room: string, name: string, guidelines: string, crisis: string,
 *   share_seconds: number, locked: boolean, ended: boolean, lobby: boolean,
 *   position: number|null, members: Member[], waiting: Waiting[], order: string[],
 *   round: Round|null, hands: string[], floor: string|null, topic: string|null,
 *   held: boolean, successor: string|null, returning?: string|null, notes?: Note[]}} Snapshot
 * @typedef {{from: string, name: string, id: number, text: string, at: number, mine: boolean}} ChatLine
 * @typedef {{id: number, from: string, name: string, text: string, at: number, seen: boolean}} Note
 * @typedef {{me: string, role: string, state: Snapshot, chat: ChatLine[], notes: Note[],
 *   lobbyMessages: string[], names: Map<string, string>, turnStartedAt: number|null,
 *   chatCount: number}} View
 *   `chatCount`: how many chat lines arrived in all (`chat` keeps the last few hundred).
 * @typedef {{type: string, member?: string, name: string, [k: string]: any}} Happening
 *   The event, with the name of the person it is about, for the UI to announce or show.
 */

/** @param {Record<string, any>} welcome @param {View|null} previous @returns {View} */
export function viewFromWelcome(welcome, previous) {
  const state = /** @type {Snapshot} */ (structuredClone(welcome.state));
  /** @type {Map<string, string>} */
  const names = new Map(previous ? previous.names : []);
  for (const m of state.members) names.set(m.id, m.name);
  for (const w of state.waiting) names.set(w.id, w.name);
  return {
    me: welcome.me,
    role: welcome.role,
    state,
    chat: previous ? previous.chat : [],
    notes: state.notes ? [...state.notes] : [],
    lobbyMessages: previous ? previous.lobbyMessages : [],
    names,
    turnStartedAt: null,
    chatCount: previous ? previous.chatCount : 0,
  };
}

/** @param {View} view @param {string|null|undefined} id */
export function nameOf(view, id) {
  return (id && view.names.get(id)) || "";
}

/** @param {View} view @param {string|null|undefined} id */
export function memberOf(view, id) {
  return view.state.members.find((m) => m.id === id) || null;
}

/** @param {View} view */
export function isFacilitator(view) {
  return view.role === "facilitator" && !view.state.lobby;
}

/** Who holds the talking piece or the floor now, if anyone. @param {View} view */
export function speakerOf(view) {
  return view.state.round?.speaker || view.state.floor || null;
}

/**
 * Who gets the talking piece on `next`, as the server said (the snapshot's `round.next`, kept
 * current by `turn` and `next_changed`): the engine's rule, never worked out here.
 * @param {View} view @returns {string|null}
 */
export function nextSpeaker(view) {
  const round = view.state.round;
  if (!round || !round.speaker) return null;
  return round.next ?? null;
}

/**
 * Fold one event into the view. Returns what happened, for the UI.
 * @param {View} view @param {Record<string, any>} ev @param {number} now server time
 * @returns {Happening}
 */
export function applyEvent(view, ev, now) {
  const s = view.state;
  const member = ev.member;
  const happened = { ...ev, type: String(ev.type), name: nameOf(view, member || ev.from || ev.speaker) };
  switch (ev.type) {
    case "joined_lobby":
      view.names.set(member, ev.name);
      s.waiting = s.waiting.filter((w) => w.id !== member);
      s.waiting.push({ id: member, name: ev.name, position: ev.position, reconnecting: false });
      return { ...happened, name: ev.name };
    case "lobby_message":
      view.lobbyMessages.push(ev.text);
      return happened;
    case "lobby_position":
      if (member === view.me) s.position = ev.position;
      else {
        const w = s.waiting.find((x) => x.id === member);
        if (w) w.position = ev.position;
      }
      return happened;
    case "admitted":
      view.names.set(member, ev.name);
      s.waiting = s.waiting.filter((w) => w.id !== member);
      if (!s.members.some((m) => m.id === member)) {
        s.members.push({ id: member, name: ev.name, role: ev.role, away: false, muted: false, reconnecting: false });
      }
      if (member === view.me) s.lobby = false;
      return { ...happened, name: ev.name };
    case "denied":
      s.waiting = s.waiting.filter((w) => w.id !== member);
      return happened;
    case "left":
    case "removed":
      depart(s, member);
      return happened;
    case "reconnecting":
    case "away":
    case "present":
      for (const p of [...s.members, ...s.waiting]) {
        if (p.id !== member) continue;
        if (ev.type === "reconnecting") p.reconnecting = true;
        if (ev.type === "away" && "away" in p) p.away = true;
        if (ev.type === "present") {
          p.reconnecting = false;
          if ("away" in p && ev.was === "away") p.away = false;
        }
      }
      return happened;
    case "order_set":
      s.order = [...ev.order];
      return happened;
    case "round_started":
      s.round = {
        kind: ev.kind,
        seconds: ev.seconds,
        share_seconds: ev.seconds,
        overtime: ev.overtime,
        second_pass: ev.second_pass,
        pass_no: 1,
        speaker: null,
        next: null,
        turn_id: null,
        deadline: null,
        paused: false,
        remaining: null,
        time_up: false,
        passed: [],
      };
      return happened;
    case "turn":
      if (s.round) {
        Object.assign(s.round, {
          speaker: ev.speaker,
          next: ev.next ?? null,
          turn_id: ev.turn_id,
          deadline: ev.deadline,
          seconds: ev.seconds,
          pass_no: ev.pass_no,
          paused: ev.deadline === null,
          remaining: ev.deadline === null ? ev.seconds : null,
          time_up: false,
          pause_reason: ev.pause_reason ?? null,
        });
      }
      view.turnStartedAt = now;
      return { ...happened, member: ev.speaker, name: nameOf(view, ev.speaker) };
    case "passed":
    case "skipped":
      if (s.round && ev.pass_no === 1 && !s.round.passed.includes(member)) s.round.passed.push(member);
      if (s.round && s.round.speaker === member) s.round.speaker = null;
      return happened;
    case "finished":
      if (s.round && s.round.speaker === member) s.round.speaker = null;
      return happened;
    case "next_changed":
      if (s.round) s.round.next = ev.next ?? null;
      return { ...happened, member: ev.next, name: nameOf(view, ev.next) };
    case "time_up":
      if (s.round && s.round.turn_id === ev.turn_id) s.round.time_up = true;
      return happened;
    case "timer":
      if (s.round && s.round.turn_id === ev.turn_id) {
        Object.assign(s.round, {
          deadline: ev.deadline,
          paused: ev.paused,
          remaining: ev.remaining,
          seconds: ev.seconds,
          time_up: ev.time_up,
          pause_reason: ev.pause_reason ?? null,
        });
      }
      return happened;
    case "round_ended":
      s.round = null;
      return happened;
    case "hand_raised":
      if (!s.hands.includes(member)) s.hands.push(member);
      return happened;
    case "hand_lowered":
      s.hands = s.hands.filter((id) => id !== member);
      return happened;
    case "called_on":
      s.hands = s.hands.filter((id) => id !== member);
      s.floor = member;
      return happened;
    case "floor_cleared":
      if (s.floor === member) s.floor = null;
      return happened;
    case "chat":
      if (typeof ev.text === "string") {
        view.chat.push({ from: ev.from, name: nameOf(view, ev.from), id: ev.id, text: ev.text, at: ev.at, mine: ev.from === view.me });
        view.chatCount += 1;
        if (view.chat.length > CHAT_KEEP) view.chat.splice(0, view.chat.length - CHAT_KEEP);
      }
      return happened;
    case "reaction":
      return happened;
    case "support":
      if (!view.notes.some((n) => n.id === ev.id)) {
        view.notes.push({ id: ev.id, from: ev.from, name: ev.name || nameOf(view, ev.from), text: ev.text, at: ev.at, seen: false });
      }
      if (view.notes.length > NOTES_KEEP) view.notes.splice(0, view.notes.length - NOTES_KEEP);
      return { ...happened, name: ev.name || happened.name };
    case "support_seen":
      for (const n of view.notes) if (n.id === ev.note) n.seen = true;
      return { ...happened, name: nameOf(view, ev.by) };
    case "topic_set":
      s.topic = ev.text ?? null;
      return happened;
    case "locked":
      s.locked = true;
      return happened;
    case "unlocked":
      s.locked = false;
      return happened;
    case "muted":
    case "unmuted": {
      const m = memberOf(view, member);
      if (m) m.muted = ev.type === "muted";
      return happened;
    }
    case "role_changed": {
      const m = memberOf(view, member);
      if (m) m.role = ev.role;
      if (member === view.me) view.role = ev.role;
      return happened;
    }
    case "successor_set":
      s.successor = member ?? null;
      return happened;
    case "returning_set":
      s.returning = ev.returning;
      return happened;
    case "held":
      s.held = true;
      return happened;
    case "unheld":
      s.held = false;
      return happened;
    case "meeting_ended":
      s.ended = true;
      return happened;
    default:
      return happened;
  }
}

/** Take someone out of everything at once (left, removed, timed out). @param {Snapshot} s @param {string} id */
function depart(s, id) {
  s.members = s.members.filter((m) => m.id !== id);
  s.waiting = s.waiting.filter((w) => w.id !== id);
  s.order = s.order.filter((x) => x !== id);
  s.hands = s.hands.filter((x) => x !== id);
  if (s.floor === id) s.floor = null;
  if (s.successor === id) s.successor = null;
}

/**
 * Seconds left on the current turn (negative in overtime), or null without a turn.
 * @param {Round|null} round @param {number} now server time
 */
export function secondsLeft(round, now) {
  if (!round || !round.speaker) return null;
  if (round.paused || round.deadline === null) return round.remaining ?? round.seconds;
  return round.deadline - now;
}
