"""Fixtures of the browser tests: the workbench in a real Streamlit server, driven through
Debian's chromium by Playwright (never ``playwright install``: the browser is the system's).

- ``app_url`` (session): ``python -m streamlit run app.py`` on a free port of 127.0.0.1, up
  once ``/_stcore/health`` answers ``ok``; stopped at the end. Its output goes to
  ``artifacts/e2e/streamlit.log``.
- ``browser`` (session): chromium at :data:`CHROMIUM`.
- ``page`` (per test): a fresh browser context — so a fresh Streamlit session — with a tall
  viewport (Streamlit scrolls inside its main element, so only the viewport is ever captured),
  downloads accepted. A failed test leaves ``artifacts/e2e/FAILED-<test>.png``.

Without chromium or Playwright the tests skip with the reason — except under CI (``CI`` set
and not ``0``/``false``), where they fail: CI must prove the browser tests ran.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Tall enough for the longest page (Streamlit scrolls inside its main element).
VIEWPORT = {"width": 1400, "height": 2600}
#: Seconds for the server to answer its health check (the first start imports everything).
SERVER_START_TIMEOUT = 120
#: Default wait of Playwright actions and ``expect`` assertions, in ms (2 cores shared by the
#: server, chromium and pytest).
DEFAULT_TIMEOUT_MS = 30_000


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip locally; fail under CI, where the browser tests must run."""
    if in_ci():
        pytest.fail(f"{reason} (CI={os.environ.get('CI')}: the browser tests must run in CI)",
                    pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.read().decode().strip()
    except (urllib.error.URLError, OSError):
        return None


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("FAILED-*.png"):  # from an earlier session
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"{CHROMIUM} not found: install Debian's chromium (apt-get install "
                    "chromium) to run the browser tests")
    return CHROMIUM


@pytest.fixture(scope="session")
def app_url(artifacts: Path) -> str:
    """The workbench served by ``streamlit run app.py`` (from this checkout)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = artifacts / "streamlit.log"
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]
    home = artifacts / "dnmf_home"  # the server's run store, fresh for every session
    shutil.rmtree(home, ignore_errors=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ,
                                                               "DNMF_HOME": str(home)})
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while _health(url) != "ok":
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with code {proc.returncode} before answering "
                            f"its health check:\n{_tail(log_path)}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer {url}/_stcore/health within "
                            f"{SERVER_START_TIMEOUT} s:\n{_tail(log_path)}", pytrace=False)
            time.sleep(0.2)  # polling a server that is starting: there is nothing to wait on
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        unavailable(f"Playwright is not installed ({exc}): pip install -e '.[e2e]'")
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the test item (for the failure screenshot)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def page(browser, app_url: str, artifacts: Path, request):
    """A page in a new browser context (so a new Streamlit session); not navigated yet."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            try:
                pg.screenshot(path=artifacts / f"FAILED-{request.node.name}.png", full_page=True)
            except Exception as exc:  # the page may be gone; the failure itself matters more
                print(f"no failure screenshot: {exc}")
        context.close()


def pytest_terminal_summary(terminalreporter) -> None:
    """One line in the log saying whether the browser tests ran (CI must show they did)."""
    outcome: dict[str, str] = {}
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 2}
    for key in rank:
        for rep in terminalreporter.stats.get(key, []):
            if "e2e" not in getattr(rep, "keywords", {}):
                continue
            word = "failed" if key == "error" else key
            if rank[word] >= rank[outcome.get(rep.nodeid, "passed")]:
                outcome[rep.nodeid] = word
    if outcome:
        counts = {w: sum(v == w for v in outcome.values()) for w in ("passed", "failed", "skipped")}
        terminalreporter.write_line(
            "browser tests (e2e, " + CHROMIUM + "): "
            + ", ".join(f"{n} {w}" for w, n in counts.items() if n)
            + (f" · screenshots in {ARTIFACTS.relative_to(ROOT)}/" if counts["passed"] else ""))
