"""Soak test of the workbench server: many fits in one workspace, many sessions opened and closed.

    PYTHONPATH=. .venv/bin/python bench/soak_app.py                  # 50 fits, 20 sessions
    PYTHONPATH=. .venv/bin/python bench/soak_app.py --fits 20 --sessions 5

Starts ``streamlit run app.py`` on 127.0.0.1 (its own temporary ``DNMF_HOME``, the embedded Dask
cluster), drives it with Chromium: Home's *Try it* (two fits each) until ``--fits`` fits ran in
one workspace, then ``--sessions`` new browser contexts each open the app and close. Reports
the memory (RSS) of the server process and of the server with its cluster (scheduler, nannies,
workers) after the first fit and at the end, and the database's size on disk against the bytes
of the runs it keeps. Checks (exit code 1 if one fails): the server's memory grew by at most
``--max-growth-mib`` (100), no traceback was shown, the store holds the capped number of runs.
Bounded: every wait has a timeout.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(proc: psutil.Process, tree: bool) -> float:
    procs = [proc] + (proc.children(recursive=True) if tree else [])
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1024**2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fits", type=int, default=50)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--max-growth-mib", type=float, default=100.0)
    args = ap.parse_args()

    from playwright.sync_api import expect, sync_playwright

    home = Path(tempfile.mkdtemp(prefix="dnmf-soak-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "DNMF_HOME": str(home), "PYTHONPATH": str(ROOT)})
    ok = True
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                print("the server did not start")
                return 1
            time.sleep(0.2)
        proc = psutil.Process(server.pid)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])
            ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
            ctx.set_default_timeout(120_000)
            page = ctx.new_page()
            page.goto(url)
            main_ = page.get_by_role("main")
            button = main_.get_by_role("button", name=re.compile("^Try it"))
            expect(button).to_be_visible(timeout=120_000)
            fits, clicks, times = 0, 0, []
            first = None
            app = page.get_by_test_id("stApp")
            reported = []
            while fits < args.fits:
                t = time.perf_counter()
                button.click()
                # the click's rerun starts, then ends with the message (the previous render's
                # message stays on screen until the rerun replaces it)
                try:
                    expect(app).to_have_attribute("data-test-script-state", "running",
                                                  timeout=5_000)
                except AssertionError:
                    pass  # already over
                expect(app).to_have_attribute("data-test-script-state", "notRunning",
                                              timeout=120_000)
                times.append(time.perf_counter() - t)
                done = main_.get_by_text(re.compile(r"^Fitted try-it deep"))
                expect(done).to_be_visible(timeout=10_000)
                m = re.search(r" in ([\d.]+) s\.", done.inner_text())
                if m:
                    reported.append(float(m.group(1)))
                fits += 2
                clicks += 1
                if first is None:
                    first_click = times[0]
                    time.sleep(2)
                    first = (_rss_mib(proc, False), _rss_mib(proc, True))
                    print(f"after the first fit: server {first[0]:.0f} MiB, with its cluster "
                          f"{first[1]:.0f} MiB")
            if main_.get_by_test_id("stException").count():
                print("FAIL: a traceback was shown")
                ok = False
            ctx.close()
            for _ in range(args.sessions):
                c = browser.new_context()
                p = c.new_page()
                p.goto(url)
                expect(p.get_by_role("main").get_by_role("button", name=re.compile("^Try it"))
                       ).to_be_visible(timeout=120_000)
                c.close()
            browser.close()
        time.sleep(5)  # closed sessions are dropped by the server
        end = (_rss_mib(proc, False), _rss_mib(proc, True))
        times.sort()
        reported.sort()
        print(f"{fits} fits ({clicks} Try it clicks): click to results in the browser median "
              f"{times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s (first "
              f"{first_click:.2f} s); the page's own count, median "
              f"{reported[len(reported) // 2]:.2f} s")
        print(f"after the soak and {args.sessions} sessions opened and closed: server "
              f"{end[0]:.0f} MiB (+{end[0] - first[0]:.0f}), with its cluster {end[1]:.0f} MiB "
              f"(+{end[1] - first[1]:.0f})")
        if end[0] - first[0] > args.max_growth_mib:
            print(f"FAIL: the server grew by more than {args.max_growth_mib:.0f} MiB")
            ok = False
        from dnmf.service.store import RunStore
        from dnmf.ui.runs import MAX_RUNS

        store = RunStore(home)
        kept = store.total_bytes()
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        disk = sum(f.stat().st_size for f in home.glob("runs.db*"))
        n_runs = sum(1 for _ in store._run(lambda c: c.execute("SELECT 1 FROM runs").fetchall()))
        print(f"store: {n_runs} runs kept (cap {MAX_RUNS} per workspace), {kept / 1024:.0f} KiB "
              f"of runs, database files {disk / 1024:.0f} KiB on disk (after a WAL checkpoint)")
        if n_runs != min(fits, MAX_RUNS):
            print("FAIL: the store does not hold the capped number of runs")
            ok = False
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
