"""Browser tests: the workbench served by Streamlit, driven through chromium by Playwright."""
