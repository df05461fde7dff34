"""An accessibility audit of whatever a page shows now, with axe-core (issue 17).

axe-core comes from the npm registry for the tests only: `tests/integration/browser/axe/`
pins it in package.json and package-lock.json, and `make test` installs it there when
missing (`make axe`). It is never served to members.

The page's CSP (`default-src 'self'`) refuses inline scripts, and Playwright's
`add_script_tag(path=...)` injects the file's text as an inline script, which the CSP blocks.
So axe's source is run with `page.evaluate`, which goes through the DevTools protocol and is
not subject to the page's CSP; the page itself keeps its real policy while it is audited.

`audit(page, name)` runs the WCAG 2.0/2.1 A and AA rules, writes the whole result to
tests/artifacts/axe/<name>.json (passes and incomplete checks included, to read later), and
fails listing every serious or critical violation: rule, impact, the elements and the help.
Moderate and minor findings are kept in the file but do not fail the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "axe" / "node_modules" / "axe-core" / "axe.min.js"
RESULTS = HERE.parents[2] / "tests" / "artifacts" / "axe"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING = {"serious", "critical"}

_RUN = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations", "incomplete"],
  });
  return JSON.parse(JSON.stringify(result));
}"""


def _source() -> str:
    if not AXE_JS.exists():
        raise AssertionError(
            f"axe-core is not installed at {AXE_JS}: run `make axe` "
            "(npm ci --prefix tests/integration/browser/axe)"
        )
    return AXE_JS.read_text()


def serious(result: dict[str, Any]) -> list[str]:
    """One line per serious or critical violation: rule, impact, elements, help."""
    lines = []
    for violation in result["violations"]:
        if violation.get("impact") not in FAILING:
            continue
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
        lines.append(f"{violation['id']} ({violation['impact']}) on {targets}: {violation['help']}")
    return lines


def audit(page: Page, name: str) -> dict[str, Any]:
    """Audit the page as it is now; save the result as <name>.json; fail on serious ones."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_source())  # once per document: a navigation forgets it
    result: dict[str, Any] = page.evaluate(_RUN, TAGS)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    found = serious(result)
    assert not found, f"axe: serious or critical on {name}:\n" + "\n".join(found)
    return result
