"""Shared fixtures.  Lab tests need root and run inside `scripts/isolated` (make test).

`--load N` (or NETLADDER_TEST_LOAD=N; `auto` is one per core) keeps N busy processes running
beside the whole run, so a test that only passes on a quiet machine fails here rather than in
someone else's CI: `make test PYTEST_ARGS="--load auto"`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from netladder.lab import Lab
from netladder.lab.topologies import chain, pair

# Hypothesis: no per-example deadline and no "too slow" health check — on a machine this
# busy a slow example is the machine, not the code.  `--hypothesis-profile=fuzz` runs the
# properties for longer (NETLADDER_FUZZ_EXAMPLES each, 10000 by default).
settings.register_profile(
    "netladder", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "fuzz",
    parent=settings.get_profile("netladder"),
    max_examples=int(os.environ.get("NETLADDER_FUZZ_EXAMPLES", "10000")),
)
settings.load_profile("netladder")


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


# A stress-like load: each process spins, with a syscall now and then (as a busy test run
# does), and exits as soon as its parent is gone, so a killed run leaves no spinner behind.
SPINNER = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(20000):
        pass
    os.getpid()
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--load",
        default=os.environ.get("NETLADDER_TEST_LOAD", "0"),
        metavar="N",
        help="run N busy processes beside the tests (auto: one per core); "
        "default NETLADDER_TEST_LOAD or 0",
    )


def _load_count(config: pytest.Config) -> int:
    value = str(config.getoption("--load"))
    if value == "auto":
        return os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        raise pytest.UsageError(f"--load: expected a number or 'auto', not {value!r}") from None
    if count < 0:
        raise pytest.UsageError(f"--load: expected 0 or more, not {count}")
    return count


_spinners: list[subprocess.Popen[bytes]] = []


def pytest_configure(config: pytest.Config) -> None:
    count = _load_count(config)
    for _ in range(count):
        _spinners.append(
            subprocess.Popen(
                [sys.executable, "-c", SPINNER, str(os.getpid())],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C on the run does not reach them
            )
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    while _spinners:
        spinner = _spinners.pop()
        spinner.kill()
        spinner.wait()


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"load: {len(_spinners)} busy processes beside the tests" if _spinners else None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The header that names the seed is hidden by -q: repeat it where every run shows it.
    config = terminalreporter.config
    if config.pluginmanager.has_plugin("randomly"):
        seed = config.getoption("randomly_seed")
        terminalreporter.write_line(f"random order: reproduce it with --randomly-seed={seed}")
    if _spinners:
        terminalreporter.write_line(f"ran under load: {len(_spinners)} busy processes")
