"""The client's languages (web_client/strings/*.js) agree with English and with the code.

The language modules are imported by node (they are plain ES modules) and dumped as JSON;
node's own Intl gives each language's plural categories. Checked: every language has exactly
English's keys, with the same `{holes}`; a text with plural forms has exactly the forms its
language's Intl.PluralRules names; every key is used by the client (literally, or through
one of the dynamic patterns listed below); every key the client names exists; and every
error code in docs/protocol.md has words.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLIENT = ROOT / "web_client"
STRINGS_DIR = CLIENT / "strings"
NODE_SECONDS = 30

# Keys the client builds at run time: `t(`kind_${kind}`)`, `t(`order_${k}`)`,
# `t(`hostDay_${day}`)` and `t(`${labelKey}Short`)` (the control bar's phone labels).
DYNAMIC_PREFIXES = ("kind_", "order_", "hostDay_")
DYNAMIC_SUFFIXES = ("Short",)

DUMP = """
const [dir, ...langs] = process.argv.slice(1);
const out = {};
for (const lang of langs) {
  const table = (await import(`${dir}/${lang}.js`)).default;
  const plural = new Intl.PluralRules(lang).resolvedOptions().pluralCategories;
  out[lang] = {strings: table, plural};
}
console.log(JSON.stringify(out));
"""

HOLE = re.compile(r"\{(\w+)\}")

Text = str | dict[str, str]


def languages() -> list[str]:
    """The codes strings.js offers (its LANGUAGES table), English first."""
    source = (CLIENT / "strings.js").read_text()
    table = source[source.index("export const LANGUAGES") :]
    table = table[: table.index("});")]
    return re.findall(r"^\s+(\w+): \{ name:", table, re.M)


@pytest.fixture(scope="module")
def tables() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    langs = languages()
    done = subprocess.run(
        [node, "--input-type=module", "-e", DUMP, str(STRINGS_DIR), *langs],
        capture_output=True,
        text=True,
        timeout=NODE_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def holes(text: Text) -> set[str]:
    forms = [text] if isinstance(text, str) else list(text.values())
    return {hole for form in forms for hole in HOLE.findall(form)}


def client_source() -> str:
    """Every client file that may name a key (the language tables under strings/ are not)."""
    files = [*CLIENT.glob("*.js"), *CLIENT.glob("*.html")]
    return "\n".join(f.read_text() for f in files)


def test_at_least_four_languages_with_english_first() -> None:
    langs = languages()
    assert langs[0] == "en"
    assert {"en", "es", "fr", "de"} <= set(langs)
    assert sorted(p.stem for p in STRINGS_DIR.glob("*.js")) == sorted(langs)


def test_every_language_has_exactly_the_english_keys(tables: dict[str, Any]) -> None:
    english = set(tables["en"]["strings"])
    for lang, table in tables.items():
        keys = set(table["strings"])
        assert not english - keys, f"{lang} lacks {sorted(english - keys)}"
        assert not keys - english, f"{lang} has keys English lacks: {sorted(keys - english)}"


def test_every_text_has_the_english_holes(tables: dict[str, Any]) -> None:
    english: dict[str, Text] = tables["en"]["strings"]
    for lang, table in tables.items():
        for key, text in table["strings"].items():
            assert holes(text) == holes(english[key]), f"{lang}.{key}: {text!r}"
            if isinstance(text, dict):
                for form in text.values():
                    assert holes(form) <= holes(english[key]), f"{lang}.{key}: {form!r}"


def test_plural_texts_have_every_form_of_their_language(tables: dict[str, Any]) -> None:
    english: dict[str, Text] = tables["en"]["strings"]
    plural_keys = {key for key, text in english.items() if isinstance(text, dict)}
    assert plural_keys, "English has no plural texts: the check would prove nothing"
    for lang, table in tables.items():
        categories = set(table["plural"])
        for key, text in table["strings"].items():
            if key not in plural_keys:
                assert isinstance(text, str), f"{lang}.{key} has forms English does not"
                continue
            assert isinstance(text, dict), f"{lang}.{key} needs plural forms"
            assert set(text) == categories, f"{lang}.{key}: {sorted(text)} != {sorted(categories)}"
            # the count is in the text (or the form is for exactly one, and may say "one")
            assert all(v.strip() for v in text.values()), f"{lang}.{key} has an empty form"


def test_every_key_is_used_by_the_client(tables: dict[str, Any]) -> None:
    source = client_source()
    unused = [
        key
        for key in tables["en"]["strings"]
        if not re.search(rf"[\"'`]{re.escape(key)}[\"'`]", source)
        and not key.startswith(DYNAMIC_PREFIXES)
        and not key.endswith(DYNAMIC_SUFFIXES)
    ]
    assert not unused, f"keys no client file names: {unused}"


def test_every_key_the_client_names_exists(tables: dict[str, Any]) -> None:
    english = set(tables["en"]["strings"])
    source = client_source()
    named = set(re.findall(r"\bt\(\"(\w+)\"", source))
    named |= set(re.findall(r"\b(?:text|label): \"(\w+)\"", source))
    named |= set(re.findall(r"data-s(?:-label)?=\"(\w+)\"", source))
    assert named, "found no key in the client: the pattern is stale"
    missing = sorted(named - english)
    assert not missing, f"the client names keys English lacks: {missing}"


def test_every_error_code_has_words() -> None:
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    section = protocol[protocol.index("## Errors") : protocol.index("## Close codes")]
    codes = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    assert "not_allowed" in codes
    source = (CLIENT / "strings.js").read_text()
    words = source[source.index("export function errorWords") :]
    mapped = set(re.findall(r"^\s+(\w+): \"\w+\",", words, re.M))
    assert not codes - mapped, f"error codes without words: {sorted(codes - mapped)}"
