"""The retry policy: exponential growth, jitter, a cap, and only transient errors retried."""

from __future__ import annotations

import random

import pytest

from workbench.errors import NotFound, StorageUnavailable
from workbench.storage.retry import RetryPolicy, retry_call


def test_delays_grow_exponentially_with_jitter_up_to_the_cap():
    policy = RetryPolicy(attempts=10, base=0.5, cap=4.0)
    rng = random.Random(7)
    for retry in range(8):
        ceiling = min(4.0, 0.5 * 2 ** retry)
        samples = [policy.delay(retry, rng) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len({round(s, 6) for s in samples}) > 100  # jittered, not one fixed wait
    assert max(policy.delay(30, rng) for _ in range(100)) <= 4.0


def test_transient_errors_are_retried_until_success():
    calls, waits, told = [], [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset by peer")
        return "done"

    result = retry_call(flaky, policy=RetryPolicy(attempts=5, base=1, cap=10),
                        classify=lambda e: StorageUnavailable(str(e)),
                        on_retry=lambda a, d, e: told.append((a, type(e).__name__)),
                        sleep=waits.append)
    assert result == "done" and len(calls) == 3
    assert told == [(1, "StorageUnavailable"), (2, "StorageUnavailable")]
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2


def test_transient_errors_give_up_after_the_last_attempt():
    waits: list[float] = []
    with pytest.raises(StorageUnavailable, match="down"):
        retry_call(lambda: (_ for _ in ()).throw(TimeoutError("down")),
                   policy=RetryPolicy(attempts=4), classify=lambda e: StorageUnavailable(str(e)),
                   sleep=waits.append)
    assert len(waits) == 3


def test_input_errors_are_never_retried():
    waits: list[float] = []
    calls = []

    def missing():
        calls.append(1)
        raise KeyError("k")

    with pytest.raises(NotFound):
        retry_call(missing, policy=RetryPolicy(attempts=5),
                   classify=lambda e: NotFound("no object"), sleep=waits.append)
    assert calls == [1] and waits == []
