"""Work that survives, in a real browser against a real server (with its Dask job cluster):
runs come back after a reload and after a server restart, a long fit goes on while the user
browses, a job cut off by a restart comes back as an interrupted partial run, and a workspace
is seen only through its link."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ARTIFACTS, ROOT, SERVER_START_TIMEOUT, _free_port, _health, _tail
from .ui import (
    FIT_TIMEOUT_MS,
    cells,
    choose,
    expect,
    go_to,
    grid_rows,
    main,
    no_traceback,
    open_app,
    set_number,
    shot,
    sidebar,
    wait_idle,
)

pytestmark = pytest.mark.e2e


class Server:
    """``streamlit run app.py`` on one port and one DNMF_HOME, which can be restarted."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = ARTIFACTS / "streamlit-durable.log"

    def start(self) -> None:
        import os

        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(self.port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         env={**os.environ, "DNMF_HOME": str(self.home)})
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while _health(self.url) != "ok":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{_tail(self.log)}", pytrace=False)
            time.sleep(0.2)  # a starting server: nothing to wait on

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        self.stop(kill)
        self.start()


@pytest.fixture(scope="module")
def server(artifacts):
    home = artifacts / "dnmf_home_durable"
    shutil.rmtree(home, ignore_errors=True)
    srv = Server(home)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def ctx_page(browser):
    """Pages of fresh browser contexts (new sessions, no cookies): ``ctx_page()`` makes one."""
    from .conftest import DEFAULT_TIMEOUT_MS, VIEWPORT

    made = []

    def make():
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        made.append(context)
        return context.new_page()

    yield make
    for c in made:
        c.close()


def _try_it(page) -> None:
    m = main(page)
    m.get_by_role("button", name=re.compile("^Try it")).click()
    expect(m.get_by_text(re.compile(r"^Fitted try-it deep"))).to_be_visible(
        timeout=FIT_TIMEOUT_MS)
    wait_idle(page)


def _token(page) -> str:
    found = re.search(r"[?&]workspace=([0-9a-f]{32})", page.url)
    assert found, page.url
    return found.group(1)


def _run_names(page) -> list[str]:
    """The runs listed in the sidebar summary ("· name — …")."""
    texts = sidebar(page).get_by_text(re.compile(r"^· ")).all_inner_texts()
    return [t[2:].split(" — ")[0].replace(" ⏹", "") for t in texts]


def test_runs_survive_a_reload_and_a_server_restart(server, ctx_page):
    page = ctx_page()
    open_app(page, server.url)
    token = _token(page)
    expect(sidebar(page).get_by_text("anyone with this link sees these runs",
                                     exact=False)).to_be_visible()
    _try_it(page)
    assert sorted(_run_names(page)) == ["try-it deep", "try-it multilayer"]
    page.reload()
    open_app(page, page.url)
    assert _token(page) == token
    assert sorted(_run_names(page)) == ["try-it deep", "try-it multilayer"]
    server.restart()
    page.goto(f"{server.url}/?workspace={token}")
    open_app(page, page.url)
    assert sorted(_run_names(page)) == ["try-it deep", "try-it multilayer"]
    expect(sidebar(page).get_by_text("faces (images, 100 × 625)")).to_be_visible()  # dataset too
    no_traceback(page)
    shot(page, "durable-after-restart")

    # download all runs: one zip with both runs
    with page.expect_download() as dl:
        sidebar(page).get_by_role("button", name="Download all runs").click()
    import zipfile

    names = zipfile.ZipFile(dl.value.path()).namelist()
    assert sorted(n for n in names if n.endswith(".npz")) == ["try-it_deep.npz",
                                                              "try-it_multilayer.npz"]

    # another browser without the link: its own, empty workspace
    other = ctx_page()
    open_app(other, server.url)
    assert _token(other) != token and _run_names(other) == []
    # a made-up (well-formed) key: an empty workspace, no error
    made_up = ctx_page()
    open_app(made_up, f"{server.url}/?workspace={secrets.token_hex(16)}")
    assert _run_names(made_up) == []
    expect(main(made_up).get_by_role("alert")).to_have_count(0)
    no_traceback(made_up)
    # a malformed key: a fresh workspace and a notice, not an error
    bad = ctx_page()
    open_app(bad, f"{server.url}/?workspace=../../etc")
    assert _run_names(bad) == [] and _token(bad)
    expect(main(bad).get_by_text(re.compile("not a valid workspace key"))).to_be_visible()
    no_traceback(bad)


def test_a_long_fit_goes_on_while_the_user_browses(server, ctx_page):
    page = ctx_page()
    open_app(page, server.url)
    _try_it(page)  # the older runs to look at meanwhile
    model = go_to(page, "Model")
    set_number(model, "Deep iterations", 4000)  # a few seconds of work
    wait_idle(page)
    model.get_by_role("button", name="Run", exact=True).click()
    expect(model.get_by_text(re.compile(r"^deep · iteration \d+ of "))).to_be_visible(
        timeout=FIT_TIMEOUT_MS)
    # leave the page mid-fit and open an older run: the fit goes on (the sidebar says so)
    layers = go_to(page, "Layers")
    expect(sidebar(page).get_by_text(re.compile(r"Busy · 1 running"))).to_be_visible()
    shot(page, "durable-busy-on-layers", idle=False)
    choose(layers, page, "Run", re.compile(r"^try-it multilayer"))
    expect(layers.get_by_text(re.compile(r"^Multilayer β-NMF"))).to_be_visible()
    # the fit ends on its own and its run appears without a click
    expect(sidebar(page).get_by_text(re.compile(r"^· deep-KL-faces"))).to_be_visible(
        timeout=FIT_TIMEOUT_MS)
    expect(sidebar(page).get_by_text(re.compile("Busy"))).to_have_count(0)
    no_traceback(page)


def test_a_job_cut_off_by_a_restart_comes_back_interrupted(server, ctx_page):
    page = ctx_page()
    open_app(page, server.url)
    data = go_to(page, "Data")
    expect(data.get_by_role("heading", name="faces", exact=True)).to_be_visible()
    model = go_to(page, "Model")
    set_number(model, "Warm-start iterations / layer", 10)
    set_number(model, "Deep iterations", 1_000_000)
    wait_idle(page)
    model.get_by_role("button", name="Run", exact=True).click()
    expect(model.get_by_text(re.compile(r"^deep · iteration \d+ of "))).to_be_visible(
        timeout=FIT_TIMEOUT_MS)
    time.sleep(4.5)  # a checkpoint every 3 s
    token = _token(page)
    server.restart(kill=True)  # the server process dies with its job
    page.goto(f"{server.url}/?workspace={token}")
    open_app(page, page.url)
    assert _run_names(page) == ["deep-KL-faces"]
    home = main(page)
    rows = grid_rows(home)  # the runs table: header + the one run
    expect(rows).to_have_count(2)
    row = [c.text_content() for c in cells(rows.nth(1)).all()]
    assert row[0] == "deep-KL-faces" and row[-1] == "interrupted", row
    assert int(row[5]) > 0  # deep iterations kept from the last checkpoint
    no_traceback(page)
    shot(page, "durable-interrupted")


def test_forget_this_workspace(server, ctx_page):
    page = ctx_page()
    open_app(page, server.url)
    _try_it(page)
    token = _token(page)
    sidebar(page).get_by_role("button", name=re.compile("Forget this workspace")).click()
    page.get_by_role("button", name="Forget this workspace", exact=True).click()
    expect(main(page).get_by_text(re.compile("all its runs were deleted"))).to_be_visible()
    wait_idle(page)
    assert _token(page) != token and _run_names(page) == []
    old = ctx_page()  # the old link: an empty workspace now
    open_app(old, f"{server.url}/?workspace={token}")
    assert _run_names(old) == []
    no_traceback(old)
