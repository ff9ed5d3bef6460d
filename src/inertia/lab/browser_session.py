"""A headless Chromium kept open for many checks: open pages, evaluate JavaScript, take screenshots.

Built on the DevTools-pipe machinery of :mod:`inertia.lab.browser` (standard library only). One
:class:`BrowserSession` starts one Chromium; each :meth:`BrowserSession.open` loads a page in a new
tab and returns a :class:`PageSession` that also records every network request the page makes.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from inertia.lab.browser import CHROMIUM_FLAGS, _errors_from, _install_pipe_fds, _Pipe, find_chromium


class _RenewingPipe(_Pipe):
    """The DevTools pipe with a deadline per command (``timeout_s`` from each call) instead of one overall."""

    def __init__(self, write_fd: int, read_fd: int, timeout_s: float) -> None:
        super().__init__(write_fd, read_fd, time.monotonic() + timeout_s)
        self.timeout_s = timeout_s

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict:
        self.deadline = time.monotonic() + self.timeout_s
        return super().call(method, params, session)

    def wait_event(self, method: str) -> dict[str, Any]:
        self.deadline = time.monotonic() + self.timeout_s
        return super().wait_event(method)


class PageSession:
    """One tab: ``evaluate`` JavaScript, ``screenshot``, the fonts used for a node, requests and errors."""

    def __init__(self, pipe: _RenewingPipe, session: str) -> None:
        self.pipe, self.session = pipe, session

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` (awaited when it is a promise); RuntimeError on a JS exception."""
        result = self.pipe.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                     "awaitPromise": True}, session=self.session)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"javascript error: {text}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """PNG of the viewport."""
        data = self.pipe.call("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        return base64.b64decode(data)

    def platform_fonts(self, selector: str) -> list[list[dict[str, Any]]]:
        """For each element matching ``selector``: the fonts Chromium used for its text
        (``familyName``, ``isCustomFont``, ``glyphCount``)."""
        root = self.pipe.call("DOM.getDocument", {"depth": 0}, session=self.session)["root"]["nodeId"]
        nodes = self.pipe.call("DOM.querySelectorAll", {"nodeId": root, "selector": selector},
                               session=self.session)["nodeIds"]
        return [self.pipe.call("CSS.getPlatformFontsForNode", {"nodeId": node}, session=self.session)["fonts"]
                for node in nodes]

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [e for e in self.pipe.events if e.get("method") == method and e.get("sessionId") == self.session]

    @property
    def requests(self) -> list[str]:
        """URLs of every request the page made (``data:`` URIs included)."""
        self.evaluate("1")  # flush pending events
        return [e["params"]["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    @property
    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries so far."""
        self.evaluate("1")
        return _errors_from([e for e in self.pipe.events if e.get("sessionId") == self.session])


class BrowserSession:
    """A headless Chromium for the duration of a ``with`` block; each DevTools command may take
    ``timeout_s`` seconds (TimeoutError past that)."""

    def __init__(self, chromium: str | None = None, timeout_s: float = 60.0,
                 window: tuple[int, int] = (1280, 900)) -> None:
        self.executable = chromium or find_chromium()
        if self.executable is None:
            raise FileNotFoundError("chromium: no chromium executable on PATH")
        self.timeout_s, self.window = timeout_s, window

    def __enter__(self) -> BrowserSession:
        self._profile = tempfile.TemporaryDirectory(prefix="inertia-chromium-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        self.process = subprocess.Popen(
            [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}",
             f"--window-size={self.window[0]},{self.window[1]}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False,
            preexec_fn=lambda: _install_pipe_fds(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._fds = (to_chrome_w, from_chrome_r)
        self.pipe = _RenewingPipe(to_chrome_w, from_chrome_r, self.timeout_s)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.pipe.send("Browser.close")
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in self._fds:
            os.close(fd)
        self._profile.cleanup()

    def open(self, path: str | os.PathLike, fragment: str = "", offline: bool = True) -> PageSession:
        """Load ``path`` (with URL ``fragment``, e.g. ``"#surface=valley"``) in a new tab; wait for load.

        ``offline`` cuts the tab's network (any request other than ``file:``/``data:`` then fails).
        """
        pipe = self.pipe
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable", "DOM.enable", "CSS.enable"):
            pipe.call(domain, session=session)
        if offline:
            pipe.call("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1,
                                                           "uploadThroughput": -1}, session=session)
        pipe.call("Page.navigate", {"url": Path(path).resolve().as_uri() + fragment}, session=session)
        pipe.wait_event("Page.loadEventFired")
        return PageSession(pipe, session)
