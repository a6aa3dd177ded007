"""Fixtures for the store tests: a fresh store with cheap password hashing
and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protokit.server import Account, Store


class Clock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store.open(
        tmp_path / "data", password_iterations=1000, scram_iterations=64, clock=clock
    ) as s:
        yield s


@pytest.fixture
def alice(store: Store) -> Account:
    return store.add_account("alice@example.com", "alice-pw")


@pytest.fixture
def bob(store: Store) -> Account:
    return store.add_account("bob@example.com", "bob-pw")
