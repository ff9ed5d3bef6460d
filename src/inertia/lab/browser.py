"""Load an HTML file in headless Chromium and report console errors and broken images.

Talks the DevTools protocol over ``--remote-debugging-pipe`` (file descriptors 3 and 4, messages
separated by NUL bytes) with the standard library only. Used by the tests to check that a
report renders offline: every ``<img>`` has ``naturalWidth > 0`` and nothing errors.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-dev-shm-usage", "--remote-debugging-pipe",
)
IMAGES_JS = (
    "JSON.stringify({title: document.title, bodyText: document.body ? document.body.innerText.length : 0,"
    " images: Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth,"
    " src: i.src.slice(0, 40)}))})"
)


@dataclass
class PageCheck:
    """What Chromium saw: page title, images (complete, naturalWidth, src prefix), errors."""

    title: str
    text_length: int
    images: list[dict[str, Any]]
    console_errors: list[str] = field(default_factory=list)

    @property
    def broken_images(self) -> list[dict[str, Any]]:
        """Images that did not load (not complete, or naturalWidth 0)."""
        return [img for img in self.images if not img["complete"] or img["width"] <= 0]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    """DevTools protocol over a pair of pipes; ``call`` sends a command and waits for its reply."""

    def __init__(self, write_fd: int, read_fd: int, deadline: float) -> None:
        self.write_fd, self.read_fd, self.deadline = write_fd, read_fd, deadline
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        return self.next_id

    def receive(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("chromium: no answer before the deadline")
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium: the DevTools pipe closed")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict:
        wanted = self.send(method, params, session)
        while True:
            message = self.receive()
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"chromium: {method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, method: str) -> dict[str, Any]:
        for index, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(index)
        while True:
            message = self.receive()
            if message.get("method") == method:
                return message
            self.events.append(message)


def _errors_from(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        params = event.get("params", {})
        method = event.get("method")
        if method == "Runtime.exceptionThrown":
            errors.append(str(params.get("exceptionDetails", {}).get("text", "exception")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    return errors


def _install_pipe_fds(read_fd: int, write_fd: int) -> None:
    """In the child: put the pipe ends on fds 3 (Chromium reads) and 4 (Chromium writes)."""
    high_read = fcntl.fcntl(read_fd, fcntl.F_DUPFD, 10)
    high_write = fcntl.fcntl(write_fd, fcntl.F_DUPFD, 10)
    os.dup2(high_read, 3)
    os.dup2(high_write, 4)
    os.set_inheritable(3, True)
    os.set_inheritable(4, True)


def check_page(path: str | os.PathLike, chromium: str | None = None, timeout_s: float = 60.0) -> PageCheck:
    """Open ``path`` in headless Chromium, wait for the load event, and return a :class:`PageCheck`."""
    executable = chromium or find_chromium()
    if executable is None:
        raise FileNotFoundError("chromium: no chromium executable on PATH")
    url = Path(path).resolve().as_uri()
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    with tempfile.TemporaryDirectory(prefix="inertia-chromium-") as profile:
        process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=lambda: _install_pipe_fds(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        try:
            pipe = _Pipe(to_chrome_w, from_chrome_r, time.monotonic() + timeout_s)
            return _inspect(pipe, url)
        finally:
            try:
                pipe.send("Browser.close")
            except (OSError, UnboundLocalError):
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(to_chrome_w)
            os.close(from_chrome_r)


def _inspect(pipe: _Pipe, url: str) -> PageCheck:
    target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
        pipe.call(domain, session=session)
    pipe.call("Page.navigate", {"url": url}, session=session)
    pipe.wait_event("Page.loadEventFired")
    result = pipe.call("Runtime.evaluate", {"expression": IMAGES_JS, "returnByValue": True}, session=session)
    page = json.loads(result["result"]["value"])
    pipe.call("Runtime.evaluate", {"expression": "1"}, session=session)  # flush pending console events
    return PageCheck(page["title"], page["bodyText"], page["images"], _errors_from(pipe.events))
