"""The browser suite: Playwright drives Debian's Chromium against a live Django server.

Skipped unless ``OPENIDDS_TEST_BROWSER=1`` (``.ci/run`` sets it; ``python3 dev.py test``
then runs this folder last, serially). Nothing is downloaded: the browser is
``/usr/bin/chromium`` (``apt-get install chromium``; override with
``OPENIDDS_CHROMIUM=/path``), never ``playwright install``'s build.

Every test gets a ``ui`` (:class:`Journey`): a fresh browser context on the live server,
``ui.login(...)`` through the real ``/accounts/login/`` form and ``ui.check("step")``,
which saves a screenshot to ``test-artifacts/browser/<test>/NN-step.png``, runs the
vendored axe-core (serious and critical violations fail the test) and fails on any
Content-Security-Policy violation or uncaught script error seen so far.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

ENABLED = os.environ.get("OPENIDDS_TEST_BROWSER") == "1"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
AXE_JS = HERE / "vendor" / "axe.min.js"
CHROMIUM = os.environ.get("OPENIDDS_CHROMIUM", "/usr/bin/chromium")
# As root in a container: no sandbox; no GPU; nothing that phones home or updates itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
# Playwright's own wait for one action or navigation (ms); pytest-timeout bounds a test.
ACTION_TIMEOUT_MS = 15_000
# axe-core impacts that fail a test.
FAILING_IMPACTS = {"serious", "critical"}

# Records every CSP violation in the page, before any of the page's own scripts run.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({
    directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
    line: e.lineNumber, sample: e.sample
  });
});
"""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="browser suite: set OPENIDDS_TEST_BROWSER=1 to run it")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


# -- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: `apt-get install chromium` (never `playwright install`)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread; Django's ORM, which the
    # tests use to arrange data and check audit events, refuses to run next to one unless
    # told it is safe (it is: the loop is idle while the test's own code runs).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _artifact_dir(nodeid: str) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1]).strip("_")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Like .pytest_cache: the folder ignores itself, whatever the checkout's .gitignore says.
    ignore = ARTIFACTS.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# made by tests/browser/conftest.py\n*\n")
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


class Journey:
    """One user's browser tab on the live server, with the checks every step gets."""

    def __init__(self, page: Any, base_url: str, folder: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.folder = folder
        self.steps = 0
        self.console: list[dict[str, str]] = []
        self.page_errors: list[str] = []
        self.visited: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _on_console(self, message: Any) -> None:
        self.console.append({"type": message.type, "text": message.text, "url": self.page.url})

    # -- navigation ------------------------------------------------------------------------

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    @property
    def path(self) -> str:
        url: str = self.page.url
        return url.removeprefix(self.base_url)

    def login(self, username: str, password: str = PASSWORD, *, check: bool = True) -> None:
        """Log in through the real form (GET the page, type, press the button)."""
        self.goto("/accounts/login/")
        if check:
            self.check("login-page")
        self.page.get_by_label("User name").fill(username)
        self.page.get_by_label("Password").fill(password)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Log in").click()

    def logout(self) -> None:
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Log out").click()

    # -- the checks of every step -------------------------------------------------------------

    def shot(self, step: str) -> Path:
        self.steps += 1
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", step).strip("-")
        target = self.folder / f"{self.steps:02d}-{slug}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def check(self, step: str) -> None:
        """Screenshot, then axe-core and the CSP and script-error checks, of this page."""
        self.page.wait_for_load_state("load")
        self.visited.append(self.path)
        self.shot(step)
        self.assert_accessible(step)
        self.assert_no_csp_violation(step)

    def assert_accessible(self, step: str = "") -> None:
        if not self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            # evaluate() goes through the DevTools protocol, which the page's CSP does not
            # govern, so the strict policy stays on while axe is injected.
            self.page.evaluate(AXE_SOURCE + "\n;void 0")
        result = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)
                }));
            }"""
        )
        (self.folder / f"{self.steps:02d}-axe.json").write_text(json.dumps(result, indent=2))
        failing = [v for v in result if v["impact"] in FAILING_IMPACTS]
        assert not failing, (
            f"axe-core: serious or critical violations at {self.path} ({step}):\n"
            + json.dumps(failing, indent=2)
        )

    def csp_violations(self) -> list[Any]:
        found: list[Any] = self.page.evaluate("() => window.__cspViolations || []")
        from_console = [
            m for m in self.console if "Content Security Policy" in m["text"] or "CSP" in m["text"]
        ]
        return found + from_console

    def assert_no_csp_violation(self, step: str = "") -> None:
        violations = self.csp_violations()
        assert not violations, f"CSP violations at {self.path} ({step}): {violations}"
        assert not self.page_errors, f"script errors at {self.path} ({step}): {self.page_errors}"

    def save_console(self) -> None:
        (self.folder / "console.json").write_text(json.dumps(self.console, indent=2))


AXE_SOURCE = AXE_JS.read_text(encoding="utf-8") if AXE_JS.exists() else ""


@pytest.fixture
def audit_triggers(transactional_db: None) -> Iterator[None]:
    """The append-only triggers (audit events, pump events, ...) during the test, off for
    the flush after it.

    A live server needs a transactional (flushed) database, and the flush deletes rows the
    triggers of the append-only tables refuse (``openidds.web.append_only``). So each browser
    test runs with every such trigger in place and they are dropped just before the flush.
    Their definitions are read from the migrated database once and replayed per test.
    """
    from django.db import connection

    triggers = _append_only_triggers(connection)
    with connection.cursor() as cursor:
        for drop, _ in triggers:
            cursor.execute(drop)
        for _, create in triggers:
            cursor.execute(create)
    yield
    with connection.cursor() as cursor:
        for drop, _ in triggers:
            cursor.execute(drop)


_TRIGGERS: dict[str, list[tuple[str, str]]] = {}


def _append_only_triggers(connection: Any) -> list[tuple[str, str]]:
    """(drop, create) statements of every append-only trigger, read once per vendor."""
    vendor = connection.vendor
    if vendor in _TRIGGERS:
        return _TRIGGERS[vendor]
    found: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND (name LIKE '%no_update' OR name LIKE '%no_delete') ORDER BY name"
            )
            found = [(f"DROP TRIGGER IF EXISTS {name};", sql) for name, sql in cursor.fetchall()]
        elif vendor == "postgresql":
            cursor.execute(
                "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal "
                "AND (t.tgname LIKE '%no_update_delete' OR t.tgname LIKE '%no_truncate') "
                "ORDER BY t.tgname"
            )
            found = [
                (f"DROP TRIGGER IF EXISTS {name} ON {table};", definition)
                for name, table, definition in cursor.fetchall()
            ]
    assert any("audit_auditevent" in create for _, create in found), (
        "the audit table's append-only triggers were not found in the migrated database"
    )
    _TRIGGERS[vendor] = found
    return found


@pytest.fixture
def ui(
    request: pytest.FixtureRequest,
    browser: Any,
    live_server: Any,
    audit_triggers: None,
    settings: Any,
) -> Iterator[Journey]:
    # The live server runs in this process: the settings fixture reaches it. MD5 keeps the
    # many log-ins fast (argon2 is checked in tests/web/test_auth.py).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert AXE_SOURCE, f"{AXE_JS} is missing (see tests/browser/vendor/README.md)"
    folder = _artifact_dir(request.node.nodeid)
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        timezone_id="UTC",
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    journey = Journey(page, live_server.url, folder)
    try:
        yield journey
    finally:
        journey.save_console()
        try:
            failed = request.node.rep_call.failed  # type: ignore[attr-defined]
        except AttributeError:
            failed = False
        if failed:
            # The page may be gone; the report has the error either way.
            with contextlib.suppress(Exception):
                page.screenshot(path=str(folder / "zz-failure.png"), full_page=True)
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so ``ui`` knows whether the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


# -- data ----------------------------------------------------------------------------------


@pytest.fixture
def clinics(audit_triggers: None) -> dict[str, Any]:
    """Two clinics with a nurse, a physician and a clinic admin each, and patients."""
    from openidds.web.accounts.models import Clinic, Membership, Role, User
    from openidds.web.patients.models import Patient

    made: dict[str, Any] = {}
    for slug, name in (("own", "Own Clinic"), ("other", "Other Clinic")):
        clinic = Clinic.objects.create(name=name, slug=slug)
        made[slug] = clinic
        for role in (Role.NURSE, Role.PHYSICIAN, Role.CLINIC_ADMIN):
            user = User.objects.create_user(username=f"{slug}-{role.value}", password=PASSWORD)
            Membership.objects.create(user=user, clinic=clinic, role=role)
            made[f"{slug}-{role.value}"] = user
    made["anna"] = Patient.objects.create(
        clinic=made["own"],
        name="Anna Becker",
        date_of_birth=date(1958, 3, 14),
        mrn="M-1001",
        indication="cancer_pain",
        opioid_tolerance="tolerant",
        time_zone="Europe/Berlin",
    )
    made["bruno"] = Patient.objects.create(
        clinic=made["own"],
        name="Bruno Costa",
        date_of_birth=date(1971, 9, 2),
        mrn="M-1002",
        indication="spasticity_spinal",
        opioid_tolerance="naive",
        time_zone="Europe/Lisbon",
    )
    # Same name pattern and an MRN that a careless search would also match.
    made["otto"] = Patient.objects.create(
        clinic=made["other"],
        name="Anna Other",
        date_of_birth=date(1962, 1, 5),
        mrn="M-1001X",
        indication="noncancer_pain",
        opioid_tolerance="naive",
        time_zone="UTC",
    )
    return made
