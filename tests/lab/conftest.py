"""Shared fixtures of the lab tests."""

from __future__ import annotations

import os

import pytest
import torch

from inertia.lab.browser import find_chromium


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary; without one the test is skipped, or fails where INERTIA_REQUIRE_CHROMIUM=1."""
    path = find_chromium()
    if path is None:
        if os.environ.get("INERTIA_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is required (INERTIA_REQUIRE_CHROMIUM=1) but not on PATH", pytrace=False)
        pytest.skip("chromium not installed (apt-get install chromium); set INERTIA_REQUIRE_CHROMIUM=1 to require it")
    return path


@pytest.fixture
def one_thread():
    """Run with one torch thread (results then match a one-thread subprocess bit for bit)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
