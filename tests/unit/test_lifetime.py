"""``dome.lifetime``: a child of ``dome up`` ends with it; anything else is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from dome.lifetime import PARENT_ENV, child_environment, stop_with_parent

# Prints whether it armed itself, then waits to be stopped.
CHILD = (
    "import sys, time\n"
    "from dome.lifetime import stop_with_parent\n"
    "print(stop_with_parent(), flush=True)\n"
    "time.sleep(60)\n"
)


def test_without_the_variable_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PARENT_ENV, raising=False)
    assert stop_with_parent() is False


def test_an_unusable_value_is_ignored_and_not_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARENT_ENV, "not-a-pid")
    assert stop_with_parent() is False
    assert PARENT_ENV not in os.environ


def test_the_child_environment_names_this_process() -> None:
    assert child_environment()[PARENT_ENV] == str(os.getpid())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_whose_parent_is_already_gone_stops_itself() -> None:
    # The named parent is not the real one: as if it died before the request was made.
    env = child_environment(parent_pid=os.getpid() + 1_000_000)
    child = subprocess.run([sys.executable, "-c", CHILD], env=env, timeout=30, check=False)
    assert child.returncode == -signal.SIGTERM


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_of_a_living_parent_runs_on() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=child_environment(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "True"  # armed, and past the self-check
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()
