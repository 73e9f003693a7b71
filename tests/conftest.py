"""Shared fixtures.  Lab tests need root and run inside `scripts/isolated` (make test)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from netladder.lab import Lab
from netladder.lab.topologies import chain, pair


def _lab_possible() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root"
    if not os.path.ismount("/run/netns"):
        return "lab tests run inside scripts/isolated (make test)"
    return None


@pytest.fixture(scope="session")
def lab_ok() -> None:
    reason = _lab_possible()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def chain_lab(lab_ok: None) -> Iterator[Lab]:
    """The default topology, built once per test module and always torn down."""
    with Lab(chain(), name="chain") as lab:
        yield lab


@pytest.fixture(scope="module")
def pair_lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(pair(), name="pair") as lab:
        yield lab
