"""The header every Learn page opens with."""

from __future__ import annotations

import streamlit as st

from dnmf.ui import widgets

_PRESENTER_CSS = "<style>.stMarkdown p, .stMarkdown li {font-size: 1.45rem;}</style>"


def learn_header(title: str) -> bool:
    """Set the page up, show ``title`` and the presenter-mode toggle (one setting shared by
    the Learn pages); in presenter mode the page's text is enlarged. Returns the toggle."""
    widgets.page_setup()
    st.title(title)
    presenter = st.toggle("Presenter mode", value=st.session_state.get("learn_presenter", False),
                          help="Larger fonts and figures for a projector")
    st.session_state["learn_presenter"] = presenter
    if presenter:
        st.markdown(_PRESENTER_CSS, unsafe_allow_html=True)
    return presenter
