"""ErrorPolicy: its checks, its coercion and its backoff."""

from __future__ import annotations

import re
from typing import Any

import pytest

from aiotrainer import ErrorPolicy


class TestErrorPolicy:
    def test_defaults_stop(self) -> None:
        policy = ErrorPolicy()
        assert policy.action == "stop"
        assert (policy.max_retries, policy.backoff, policy.max_backoff) == (
            3,
            0.5,
            30.0,
        )
        assert policy.exhausted == "stop"

    @pytest.mark.parametrize("action", ["stop", "retry", "disable"])
    def test_coerce_takes_an_action_name(self, action: str) -> None:
        assert ErrorPolicy.coerce(action) == ErrorPolicy(action=action)  # type: ignore[arg-type]

    def test_coerce_keeps_a_policy(self) -> None:
        policy = ErrorPolicy("retry", max_retries=1)
        assert ErrorPolicy.coerce(policy) is policy

    @pytest.mark.parametrize(
        "value", [None, 3, {"action": "retry"}], ids=["none", "int", "dict"]
    )
    def test_coerce_refuses_anything_else(self, value: object) -> None:
        with pytest.raises(
            TypeError, match=f"an error policy must be .*got {re.escape(repr(value))}"
        ):
            ErrorPolicy.coerce(value)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            (
                {"action": "explode"},
                ValueError,
                "action must be one of 'stop', 'retry', 'disable', got 'explode'",
            ),
            (
                {"action": "retry", "exhausted": "retry"},
                ValueError,
                "exhausted must be 'stop' or 'disable', got 'retry'",
            ),
            ({"max_retries": -1}, ValueError, "max_retries must be >= 0, got -1"),
            ({"max_retries": 1.5}, TypeError, "max_retries must be an int, got 1.5"),
            ({"backoff": -0.1}, ValueError, "backoff must be .* >= 0, got -0.1"),
            ({"backoff": float("nan")}, ValueError, "backoff must be .*got nan"),
            (
                {"max_backoff": "1"},
                TypeError,
                "max_backoff must be a number of seconds, got '1'",
            ),
        ],
        ids=[
            "action",
            "exhausted",
            "negative-retries",
            "float-retries",
            "negative-backoff",
            "nan-backoff",
            "str-max-backoff",
        ],
    )
    def test_bad_values_name_themselves(
        self, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        with pytest.raises(error, match=match):
            ErrorPolicy(**kwargs)

    @pytest.mark.parametrize(
        ("attempt", "expected"),
        [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 20.0), (50, 20.0)],
        ids=["zero", "first", "second", "third", "sixth", "capped", "far"],
    )
    def test_backoff_doubles_up_to_the_cap(self, attempt: int, expected: float) -> None:
        policy = ErrorPolicy("retry", backoff=0.5, max_backoff=20.0)
        assert policy.delay(attempt) == expected

    def test_zero_backoff_retries_at_once(self) -> None:
        assert ErrorPolicy("retry", backoff=0).delay(5) == 0

    def test_is_frozen(self) -> None:
        policy = ErrorPolicy()
        with pytest.raises(AttributeError):
            policy.action = "retry"  # type: ignore[misc]
