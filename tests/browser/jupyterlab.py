"""Drive a real JupyterLab in headless Chromium: a private server, run a notebook, find widgets.

Used by ``tests/test_browser_explorer.py`` and by ``tests/browser/screenshot_explorer.py`` (the
README screenshot). Everything is private to one run: a free port, a random token and temporary
Jupyter/IPython/matplotlib folders, so a developer's own settings and running servers are never
touched. Every wait has a time limit and the server is always stopped.

Chromium comes from the system (Debian's ``chromium`` package); Playwright's own browser download
(``playwright install``) is never used.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# JupyterLab user settings for a quiet, deterministic page: every cell attached to the DOM
# (no lazy rendering), no news/update checks, no toasts over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False, "doNotDisturbMode": True, "fetchNews": "false"},
}


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is missing or cannot start (tests skip on this, nothing else)."""


def find_chromium() -> str:
    """Path of the system Chromium, or raise :class:`BrowserUnavailable` saying how to get it."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise BrowserUnavailable("Chromium not found; install it with `apt-get install chromium`.")


def playwright_api() -> Any:
    """Playwright's ``sync_playwright``, or raise :class:`BrowserUnavailable`."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise BrowserUnavailable(f"The playwright package is not installed ({err}).") from err
    return sync_playwright


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``condition()`` until it returns a truthy value; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(interval)


class JupyterLab:
    """A JupyterLab server in a subprocess, serving ``root``.

    Args:
        root: Folder served (the notebook lives there).
        scratch: Folder for the private Jupyter/IPython/matplotlib settings and the server log.
        env: Extra environment for the server and its kernels (e.g. ``WSSS_CACHE``).
        preload: Python code every kernel runs at start-up (an IPython startup file), e.g.
            heavy imports, so they overlap with the browser loading the page.
    """

    def __init__(self, root: Path, scratch: Path, env: dict[str, str] | None = None,
                 preload: str = "") -> None:
        self.root = Path(root)
        self.preload = preload
        self.scratch = Path(scratch)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.scratch / "jupyterlab.log"
        self._env = env or {}
        self._process: subprocess.Popen | None = None

    def _environment(self) -> dict[str, str]:
        dirs = {name: self.scratch / name.lower() for name in (
            "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
            "MPLCONFIGDIR")}
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        if self.preload:
            startup = dirs["IPYTHONDIR"] / "profile_default" / "startup"
            startup.mkdir(parents=True, exist_ok=True)
            (startup / "00-preload.py").write_text(self.preload + "\n")
        settings = dirs["JUPYTER_CONFIG_DIR"] / "lab" / "user-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {**os.environ, **{k: str(v) for k, v in dirs.items()}, **self._env}
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env.pop("JUPYTER_PATH", None)
        return env

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and wait until its REST API answers."""
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}",
            "--ip=127.0.0.1", "--ServerApp.allow_root=True",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.port_retries=0",
            "--LabApp.news_url=", "--ServerApp.open_browser=False",
        ]
        env = self._environment()  # also creates the scratch folders
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, cwd=self.root,
                                         start_new_session=True)
        log.close()

        def ready() -> bool:
            if self._process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early; log:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False
            return True

        wait_until(ready, timeout, "JupyterLab to answer on its REST API", interval=0.5)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the server's REST API; ``body`` is sent as JSON; returns the decoded answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", method=method, data=data,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def delete_sessions(self) -> int:
        """Shut down every kernel session (left over from an earlier run); returns how many."""
        sessions = self.api("GET", "/api/sessions") or []
        for session in sessions:
            self.api("DELETE", f"/api/sessions/{session['id']}")
        return len(sessions)

    def start_kernel_for(self, notebook: str) -> None:
        """Start the notebook's kernel session now (the page attaches to it when it opens)."""
        self.api("POST", "/api/sessions", {"path": notebook, "name": notebook, "type": "notebook",
                                           "kernel": {"name": "python3"}})

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    def stop(self) -> None:
        """Stop the server and its kernels (its whole process group)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            self.delete_sessions()
        except Exception:  # noqa: BLE001 - the server may already be going down
            pass
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue


@contextmanager
def running_lab(root: Path, scratch: Path, env: dict[str, str] | None = None,
                preload: str = "") -> Iterator[JupyterLab]:
    """A started :class:`JupyterLab`, always stopped on exit."""
    lab = JupyterLab(root, scratch, env, preload)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


@contextmanager
def chromium_page(viewport: tuple[int, int] = (1300, 1900)) -> Iterator[Any]:
    """A Playwright page in headless system Chromium.

    Raises:
        BrowserUnavailable: Playwright or Chromium is missing or cannot start.
    """
    executable = find_chromium()
    sync_playwright = playwright_api()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                                 args=CHROMIUM_FLAGS, timeout=60_000)
        except Exception as err:  # noqa: BLE001 - any launch failure means "no usable browser"
            raise BrowserUnavailable(f"Chromium at {executable} did not start: {err}") from err
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def open_notebook_and_run_all(page: Any, lab: JupyterLab, notebook: str,
                              timeout_s: float = 90.0) -> None:
    """Open ``notebook`` (relative to the server root) and run all its cells from the menu."""
    page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}", timeout=timeout_s * 1000)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible",
                                                          timeout=timeout_s * 1000)

    def kernel_idle() -> bool:
        sessions = lab.api("GET", "/api/sessions") or []
        return any(s.get("kernel", {}).get("execution_state") == "idle" for s in sessions)

    # Run All only once the kernel is up, so no cell waits behind a kernel start dialog.
    wait_until(kernel_idle, timeout_s, "the notebook's kernel to start", interval=0.5)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def attached_widget(page: Any, selector: str, timeout_s: float) -> Any:
    """The first element matching ``selector`` once attached, scrolled into view.

    JupyterLab 4 may attach off-screen cells lazily, so the element is awaited as "attached"
    (not "visible") and then scrolled to.
    """
    locator = page.locator(selector).first
    locator.wait_for(state="attached", timeout=timeout_s * 1000)
    locator.scroll_into_view_if_needed(timeout=timeout_s * 1000)
    return locator
