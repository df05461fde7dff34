"""Sound after a reload, in real Chromium (issue 17): "Tap to turn on sound" shows only when the
browser really refuses to play without a gesture.

The tests' Chromium allows autoplay (`--autoplay-policy=no-user-gesture-required`, see
people.py), so after a reload, when both ends replace their connections and the other pages'
<audio> get a new stream (an interrupted play() rejects with a harmless AbortError), no page
may ask for a tap, and every <audio> plays (an init script makes sure each reloaded page
meets an interrupted play()). A page whose play() is refused with NotAllowedError (made so by
an init script, as a strict autoplay policy would) still shows the button; tapping it plays
the sound again.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    Person,
    admit,
    assert_clean,
    close,
    everyone_in,
    join,
    make_room,
    open_link,
    wait_until,
)
from tests.integration.nodes import Node

TAP = "Tap to turn on sound"
SETTLE = 3.0  # seconds after media connects in which a wrong "blocked" would have shown

# As a strict autoplay policy would: every <audio> play() refused until `allowSound()`.
REFUSE_AUDIO = """
(() => {
  const play = HTMLMediaElement.prototype.play;
  let allowed = false;
  window.allowSound = () => { allowed = true; };
  HTMLMediaElement.prototype.play = function () {
    if (this instanceof HTMLAudioElement && !allowed) {
      return Promise.reject(new DOMException("play() needs a user gesture", "NotAllowedError"));
    }
    return play.call(this);
  };
})();
"""

# As a stream replaced mid-start does: the first play() of each <audio> is interrupted (it
# rejects with AbortError) while the element goes on to play (it autoplays).
INTERRUPT_FIRST_PLAY = """
(() => {
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    const playing = play.call(this);
    if (!(this instanceof HTMLAudioElement) || this.dataset.interrupted) return playing;
    this.dataset.interrupted = "yes";
    return Promise.reject(new DOMException("play() was interrupted by a new load", "AbortError"));
  };
})();
"""

AUDIO_STATE = (
    "[...document.querySelectorAll('audio')]"
    ".map((a) => ({ playing: !a.paused, stream: !!a.srcObject }))"
)


def media_connected(*people: Person) -> bool:
    stats = [p.stats() for p in people]
    return all(s and all(row["state"] == "connected" for row in s.values()) for s in stats)


def all_audio_playing(person: Person) -> bool:
    audios = person.js(AUDIO_STATE)
    return bool(audios) and all(a["playing"] and a["stream"] for a in audios)


def test_after_a_reload_sound_plays_without_a_tap(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, (ann, bob) = everyone_in(browser, room, "Fay", "Ann", "Bob")
    people = (fay, ann, bob)
    try:
        wait_until(lambda: media_connected(*people), what="media connected")
        # Each in turn: a reload replaces the streams on every other page, not only its own
        # (whether a play() is caught mid-start there is a race: the script makes it sure).
        for person in people:
            person.page.context.add_init_script(INTERRUPT_FIRST_PLAY)
        for reloaded in people:
            reloaded.page.reload()
            expect(reloaded.page.locator("#screen-circle")).to_be_visible()
            wait_until(
                lambda: media_connected(*people), what=f"media after {reloaded.name}'s reload"
            )
            reloaded.page.wait_for_timeout(SETTLE * 1000)
            for person in people:
                expect(person.page.get_by_role("button", name=TAP)).to_be_hidden(timeout=1)
                wait_until(
                    lambda person=person: all_audio_playing(person),
                    what=lambda person=person: f"{person.name}'s sound: {person.js(AUDIO_STATE)}",
                )
        assert_clean(*people)
    finally:
        close(*people)


def test_a_refused_play_still_asks_for_a_tap(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, _ = everyone_in(browser, room, "Fay")
    ann = open_link(browser, room.invite_url, "Ann")
    try:
        # The script applies from the next load on: the reload keeps the link (sessionStorage).
        ann.page.context.add_init_script(REFUSE_AUDIO)
        ann.page.reload()
        join(ann)
        expect(ann.page.locator("#screen-lobby")).to_be_visible()
        admit(fay, ann)
        tap = ann.page.get_by_role("button", name=TAP)
        expect(tap).to_be_visible()
        ann.shot("sound-tap")
        expect(fay.page.get_by_role("button", name=TAP)).to_be_hidden()

        ann.js("allowSound()")
        tap.click()
        expect(tap).to_be_hidden()
        wait_until(lambda: all_audio_playing(ann), what=lambda: ann.js(AUDIO_STATE))
        assert_clean(fay, ann)
    finally:
        close(fay, ann)
