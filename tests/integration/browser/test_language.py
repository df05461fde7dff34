"""A meeting in another language: Chromium in German, a switch to Spanish and French live.

Greta's browser says German (`locale="de-DE"`, so navigator.languages starts with de-DE):
the join page, the lobby and the circle come in German, with <html lang="de">. She switches
to Spanish on the join page (the page changes in place, what she typed stays), back to
German, and in the circle to French: the control bar, the tabs and the chat heading change at
once, and the chat line already there stays. Fay, the facilitator, keeps English. Screenshots
in German (desktop and a 360 px phone) go to tests/artifacts/screenshots/; on the phone no
control label is cut and the top bar fits the width.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    DESKTOP,
    PHONE,
    Person,
    admit,
    assert_clean,
    close,
    join,
    make_room,
    open_link,
)
from tests.integration.nodes import Node


def open_in(browser: Browser, url: str, name: str, locale: str, viewport: dict[str, int]) -> Person:
    """`people.open_link` with the browser's language set."""
    return open_link(browser, url, name, viewport=viewport, locale=locale)


def no_control_label_cut(person: Person) -> list[str]:
    """Visible control labels whose text is wider than their box (cut or overflowing)."""
    return list(
        person.js(
            """() => [...document.querySelectorAll('.control-label > span')]
                .filter((s) => s.offsetParent !== null && s.scrollWidth > s.clientWidth + 1)
                .map((s) => s.textContent)"""
        )
    )


def test_a_meeting_in_german_switched_live(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay = open_link(browser, room.facilitator_url, "Fay")
    greta = open_in(browser, room.invite_url, "Greta", "de-DE", DESKTOP)
    people = [fay, greta]
    try:
        page = greta.page
        # --- the join page comes in German, chosen from the browser
        expect(page.locator("#join-button")).to_have_text("In den Warteraum")
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.get_by_text("Du trittst Tuesday evening circle bei.")).to_be_visible()
        expect(page.get_by_role("button", name="Brauchst du jetzt Hilfe?")).to_be_visible()
        expect(fay.page.locator("#join-button")).to_have_text("Open the room as facilitator")
        greta.shot("language-join-de")

        # --- switched to Spanish in place: labels, the data lines and the typed name
        page.fill("#name", "Greta")
        switcher = page.get_by_role("combobox", name="Sprache")
        switcher.select_option("es")
        expect(page.locator("#join-button")).to_have_text("Entrar en la sala de espera")
        expect(page.get_by_text("Vas a entrar en Tuesday evening circle.")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.locator("#name")).to_have_value("Greta")
        page.get_by_role("combobox", name="Idioma").select_option("de")
        expect(page.locator("#join-button")).to_have_text("In den Warteraum")

        # a refusal comes in words of the language too
        page.click("#join-button")
        expect(page.locator("#join-error")).to_contain_text("setz das Häkchen")

        # --- the lobby in German
        join(fay)
        expect(fay.page.locator("#screen-circle")).to_be_visible()
        join(greta)
        expect(page.locator("#screen-lobby")).to_be_visible()
        expect(page.locator("#lobby-position")).to_have_text("Du bist Nummer 1 in der Reihe.")
        expect(page.get_by_role("heading", name="Du bist im Warteraum")).to_be_visible()
        # Fay's page stays English: the choice is per browser
        expect(fay.page.get_by_role("button", name="Let Greta in")).to_be_visible()
        admit(fay, greta)

        # --- the circle in German; a chat line arrives before the switch
        expect(page.locator("#tab-chat")).to_have_text("Chat")
        expect(page.locator("#mic-button .control-label .long")).to_have_text("Mikrofon")
        page.fill("#chat-input", "Hallo zusammen")
        page.click("#chat-send")
        expect(page.locator(".chat-log")).to_contain_text("Hallo zusammen")
        greta.shot("language-circle-de")

        # --- switched to French in the circle: the screen is drawn anew, the chat stays
        page.get_by_role("combobox", name="Sprache").select_option("fr")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("#tab-chat")).to_have_text("Discussion")
        expect(page.locator("#mic-button .control-label .long")).to_have_text("Micro")
        expect(page.locator("#leave-button .control-label .long")).to_have_text("Quitter")
        expect(page.locator(".chat-log")).to_contain_text("Hallo zusammen")
        expect(page.locator("#tiles .tile")).to_have_count(2)
        expect(page.get_by_role("combobox", name="Langue")).to_have_value("fr")
        # the choice is kept in this browser: a reload stays French
        page.reload()
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        assert_clean(*people)
    finally:
        close(*people)


def test_german_on_a_phone_fits(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay = open_link(browser, room.facilitator_url, "Fay")
    greta = open_in(browser, room.invite_url, "Greta", "de-DE", PHONE)
    people = [fay, greta]
    try:
        page = greta.page
        expect(page.locator("#join-button")).to_have_text("In den Warteraum")
        greta.shot("language-join-de-phone")
        topbar_overflow = greta.js(
            "() => document.querySelector('.topbar').scrollWidth - window.innerWidth"
        )
        assert topbar_overflow <= 0, f"the top bar is {topbar_overflow}px wider than the phone"
        join(fay)
        join(greta)
        expect(page.locator("#screen-lobby")).to_be_visible()
        greta.shot("language-lobby-de-phone")
        admit(fay, greta)
        expect(page.locator("#mic-button .control-label .short")).to_have_text("Mikro")
        greta.shot("language-circle-de-phone")
        assert no_control_label_cut(greta) == []
        page_overflow = greta.js("() => document.documentElement.scrollWidth - window.innerWidth")
        assert page_overflow <= 0, f"the page is {page_overflow}px wider than the phone"
        # In the circle on a phone the top bar leaves the language to "More" (the stage needs
        # the height); it switches from there.
        expect(page.locator(".topbar .language-select")).to_be_hidden()
        page.click("#more-button")
        page.select_option("#more-language", "es")
        expect(page.locator("#mic-button .control-label .short")).not_to_have_text("Mikro")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        assert_clean(*people)
    finally:
        close(*people)
