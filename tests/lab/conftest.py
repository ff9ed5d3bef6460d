"""Shared fixtures of the lab tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """Run with one torch thread (results then match a one-thread subprocess bit for bit)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
