// Airtime per person in this meeting, for facilitators: who held the talking piece or the
// floor, and for how long, so quieter voices can be invited in.
//
// Rules: no DOM; kept only in this page's memory, never sent to the server or stored; a
// reload starts it again. Time is the server's clock (the caller passes `now`).

export class Airtime {
  constructor() {
    /** @type {Map<string, number>} seconds spoken per member id */
    this.totals = new Map();
    /** @type {string|null} who is talking now */
    this.current = null;
    this.since = 0;
  }

  /**
   * Tell who is talking now (null: nobody, or the timer is paused).
   * @param {string|null} talking @param {number} now
   */
  update(talking, now) {
    if (talking === this.current) return;
    this.close(now);
    this.current = talking;
    this.since = now;
  }

  /** @param {number} now */
  close(now) {
    if (this.current) {
      const spent = Math.max(0, now - this.since);
      this.totals.set(this.current, (this.totals.get(this.current) || 0) + spent);
    }
    this.current = null;
  }

  /** Seconds `member` has spoken so far. @param {string} member @param {number} now */
  of(member, now) {
    const base = this.totals.get(member) || 0;
    return member === this.current ? base + Math.max(0, now - this.since) : base;
  }
}
