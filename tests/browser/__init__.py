"""Helpers for the real-browser tests (JupyterLab + headless Chromium via Playwright)."""
