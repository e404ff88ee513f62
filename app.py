"""dnmf workbench: deep nonnegative matrix factorization with β-divergences, in the browser.

Run with ``streamlit run app.py``. This file only sets the page up and declares the pages
(``st.navigation``: the pages/ folder is not auto-discovered); the sidebar summary is drawn
after the page ran so it never shows stale state, and so are the job panel (a fragment that
refreshes itself while fits run) and the workspace's link, download and forget. Every page
starts with ``dnmf.ui.widgets.page_setup()``, which also covers Streamlit running a page file
on its own.

``st.navigation`` comes before the (slow) dnmf imports: until a process has called it once,
Streamlit shows the pages/ folder's file names as the menu.
"""

import sys
from pathlib import Path

import streamlit as st

st.set_page_config(
    page_title="dnmf · deep NMF workbench",
    page_icon=":material/stacks:",
    layout="wide",
)
pg = st.navigation(
    {
        "Workbench": [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
            st.Page("pages/model.py", title="Model", icon=":material/tune:"),
            st.Page("pages/layers.py", title="Layers", icon=":material/layers:"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
            st.Page("pages/reproduce.py", title="Reproduce", icon=":material/science:"),
        ],
        "Learn": [
            st.Page("pages/learn_what.py", title="What NMF finds", icon=":material/school:"),
            st.Page("pages/learn_race.py", title="Algorithms race",
                    icon=":material/sprint:"),
            st.Page("pages/learn_geometry.py", title="Geometry", icon=":material/change_history:"),
            st.Page("pages/learn_deep.py", title="Deep vs multilayer",
                    icon=":material/account_tree:"),
        ],
    }
)

_ROOT = Path(__file__).resolve().parent
if str(_ROOT) not in sys.path:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_ROOT))

from dnmf.ui import fit, widgets, workspace  # noqa: E402
from dnmf.ui.errors import show_error, unexpected  # noqa: E402

fit.warm_up_kernels()  # compile dnmf's kernels in the background while the user looks around
workspace.start_background()  # the run store, and the job cluster (started in the background)
st.session_state[widgets.APP_RAN] = True
try:
    pg.run()
except ValueError as exc:  # a safety net: pages already show dnmf's errors where they arise
    show_error(exc)
except Exception as exc:  # the last resort: a short message, the traceback in the log only
    unexpected(exc)  # (Streamlit's rerun/stop signals are BaseExceptions and pass through)
try:
    fit.jobs_panel()  # busy status, progress and Stop of this workspace's jobs, on every page
    widgets.sidebar_summary()
    workspace.sidebar()
except Exception as exc:
    unexpected(exc, "the sidebar")
