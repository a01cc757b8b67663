from __future__ import annotations

import pytest

from lab_helpers import CHROMIUM, start_lab

from workbench.job_handle import Job


class RecordingJob(Job):
    """A Job fed by the test; ``cancel`` records the call the way a runner would receive it."""

    runner = "test"

    def __init__(self, job_id: str = "job-under-test") -> None:
        super().__init__(job_id)
        self.cancel_calls = 0

    def cancel(self) -> None:
        self.cancel_calls += 1


@pytest.fixture
def job() -> RecordingJob:
    return RecordingJob()


@pytest.fixture(autouse=True)
def _auto_display():
    from workbench.notebook import use_display

    yield
    use_display("auto")


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """One JupyterLab for every browser test of the run: ``(server, root, home)``."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        # a missing browser is a broken test environment, not a pass (.ci/run installs it)
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)")
    server, root, home = start_lab(tmp_path_factory.mktemp("lab-root"))
    yield server, root, home
    server.stop()

