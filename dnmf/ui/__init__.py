"""The workbench's streamlit-aware helpers (the rest of dnmf never imports streamlit).

- :mod:`dnmf.ui.state`: the chosen dataset, uploads, widget persistence;
- :mod:`dnmf.ui.runs`: the session's run store (cap, rename, delete, export/import);
- :mod:`dnmf.ui.config`: model configuration → dnmf estimator (no streamlit);
- :mod:`dnmf.ui.fit`: fitting with a live progress bar and a Stop button;
- :mod:`dnmf.ui.errors`: ``ValueError`` → ``st.error`` in words, fix buttons for data errors;
- :mod:`dnmf.ui.widgets`: shared widgets (run picker, runs table, downloads, sidebar).
"""
