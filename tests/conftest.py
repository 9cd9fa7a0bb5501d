"""Shared fixtures. Tests cite the requirements they check with ``@pytest.mark.req("ID", ...)``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "req(*ids): the requirement IDs (spec/requirements.py) a test checks")
