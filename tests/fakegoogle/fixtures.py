"""Pytest fixtures for the fake: import them into a test module or a conftest.

from tests.fakegoogle.fixtures import fake_google  # noqa: F401 (a fixture)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeGoogle


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    """A started fake, fresh for each test, stopped afterwards."""
    with FakeGoogle() as fake:
        yield fake
