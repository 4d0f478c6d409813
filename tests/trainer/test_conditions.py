"""Trainability conditions: pre-checks from counters, authoritative checks."""

from __future__ import annotations

import math
from typing import Any

import pytest

from aiotrainer import (
    AllOf,
    AnyOf,
    Condition,
    ConditionContext,
    DataBuffer,
    DataUsersDict,
    MinBufferSize,
    MinInterval,
    MinNewData,
    Readiness,
    SampleToInsertRatio,
    SequentialBuffer,
    UnknownNameError,
    all_of,
    any_of,
)


class Unbounded(DataBuffer[int, list[int]]):
    """A buffer with no capacity (max_size None)."""

    def __init__(self) -> None:
        super().__init__(max_queue_size=10**9)  # no capacity; a queue bound
        self.items: list[int] = []

    def add(self, data: int) -> None:
        self.items.append(data)

    def get_data(self) -> list[int]:
        return list(self.items)

    def __len__(self) -> int:
        return len(self.items)


@pytest.fixture
def users() -> DataUsersDict:
    return DataUsersDict.from_data_buffers(
        a=SequentialBuffer[int](10), b=SequentialBuffer[int](10)
    )


def ctx(
    users: DataUsersDict,
    *,
    now: float = 1000.0,
    previous: float = -math.inf,
    collected_then: dict[str, int] | None = None,
    runs: int = 0,
) -> ConditionContext:
    return ConditionContext(
        data_users=users,
        now=now,
        previous_training_time=previous,
        collected_at_previous_training=collected_then or {},
        runs=runs,
    )


def collect(users: DataUsersDict, name: str, n: int) -> None:
    c = users[name].collector
    for i in range(n):
        c.collect(i)


NOT_READY = Readiness(False)


class TestReadiness:
    def test_ready_has_nothing_to_wait_for(self) -> None:
        r = Readiness(True)
        assert r.ready
        assert r.wake_totals == {}
        assert r.deadline is None

    def test_combine_takes_the_earliest_of_each(self) -> None:
        combined = Readiness.combine_waits(
            [
                Readiness(False, {"a": 5, "b": 9}),
                Readiness(False, {"a": 3}, deadline=20.0),
                Readiness(False, deadline=10.0),
                Readiness(False, {"b": 12}),
            ]
        )
        assert combined == Readiness(False, {"a": 3, "b": 9}, 10.0)

    def test_combine_of_nothing_waits_forever(self) -> None:
        assert Readiness.combine_waits([]) == Readiness(False, {}, None)


class TestMinBufferSize:
    def test_pending_items_count_in_the_precheck(self, users: DataUsersDict) -> None:
        cond = MinBufferSize("a", 3)
        collect(users, "a", 3)
        assert cond.precheck(ctx(users)).ready
        # ... but only items moved into the buffer count for real
        assert not cond.is_satisfied(ctx(users))
        users["a"].update()
        assert cond.is_satisfied(ctx(users))

    def test_precheck_waits_for_the_missing_items(self, users: DataUsersDict) -> None:
        cond = MinBufferSize("a", 5)
        assert cond.precheck(ctx(users)) == Readiness(False, {"a": 5})
        collect(users, "a", 2)
        users["a"].update()
        collect(users, "a", 1)
        # 2 stored + 1 pending of 5: 2 more; 3 collected so far
        assert cond.precheck(ctx(users)) == Readiness(False, {"a": 5})
        assert not cond.is_satisfied(ctx(users))
        collect(users, "a", 2)
        assert cond.precheck(ctx(users)).ready

    def test_size_zero_always_holds(self, users: DataUsersDict) -> None:
        cond = MinBufferSize("a", 0)
        assert cond.precheck(ctx(users)).ready
        assert cond.is_satisfied(ctx(users))

    def test_validate_accepts_a_size_up_to_the_capacity(
        self, users: DataUsersDict
    ) -> None:
        MinBufferSize("a", 10).validate("T", users)

    def test_validate_rejects_a_size_above_the_capacity(
        self, users: DataUsersDict
    ) -> None:
        with pytest.raises(
            ValueError,
            match=r"trainer 'T' needs min_buffer_size=11 items in data user 'a', "
            r"which can never count more than 10 \(its buffer's max_size\); expected min_buffer_size <= 10",
        ):
            MinBufferSize("a", 11).validate("T", users)

    def test_validate_accepts_any_size_for_an_unbounded_buffer(self) -> None:
        users = DataUsersDict.from_data_buffers(u=Unbounded())
        MinBufferSize("u", 10**9).validate("T", users)

    def test_validate_rejects_an_unknown_user(self, users: DataUsersDict) -> None:
        with pytest.raises(
            KeyError,
            match=r"no data user \(in the condition of trainer 'T'\) named 'c'; "
            r"expected one of: 'a', 'b'",
        ) as info:
            MinBufferSize("c", 1).validate("T", users)
        assert isinstance(info.value, UnknownNameError)

    def test_describes_itself(self) -> None:
        cond = MinBufferSize("a", 3)
        assert cond.data_user_names == frozenset({"a"})
        assert repr(cond) == "MinBufferSize('a', 3)"

    @pytest.mark.parametrize(
        ("args", "error", "message"),
        [
            (("a", -1), ValueError, r"min_buffer_size must be >= 0, got -1"),
            (("a", True), TypeError, r"min_buffer_size must be an int, got True"),
            (("a", 1.0), TypeError, r"min_buffer_size must be an int, got 1\.0"),
            (("", 1), TypeError, r"data_user must be a non-empty str, got ''"),
            ((None, 1), TypeError, r"data_user must be a non-empty str, got None"),
        ],
        ids=["negative", "bool", "float", "empty-name", "none-name"],
    )
    def test_rejects_bad_arguments(
        self, args: tuple[Any, Any], error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            MinBufferSize(*args)


class TestMinNewData:
    def test_precheck_counts_from_the_previous_training(
        self, users: DataUsersDict
    ) -> None:
        cond = MinNewData("a", 3)
        assert cond.precheck(ctx(users)) == Readiness(False, {"a": 3})
        collect(users, "a", 5)
        assert cond.precheck(ctx(users)).ready
        then = ctx(users, collected_then={"a": 4})
        assert cond.precheck(then) == Readiness(False, {"a": 7})
        collect(users, "a", 2)
        assert cond.precheck(ctx(users, collected_then={"a": 4})).ready

    def test_is_satisfied_counts_items_since_the_previous_training_time(
        self, users: DataUsersDict
    ) -> None:
        cond = MinNewData("a", 2)
        collect(users, "a", 3)
        assert not cond.is_satisfied(ctx(users))  # nothing moved in yet
        users["a"].update()
        assert cond.is_satisfied(ctx(users))
        assert not cond.is_satisfied(ctx(users, previous=math.inf))

    def test_count_zero_always_holds(self, users: DataUsersDict) -> None:
        cond = MinNewData("a", 0)
        assert cond.precheck(ctx(users, collected_then={"a": 0})).ready
        assert cond.is_satisfied(ctx(users, previous=math.inf))

    def test_validate_rejects_more_than_the_buffer_can_count(
        self, users: DataUsersDict
    ) -> None:
        MinNewData("a", 10).validate("T", users)
        with pytest.raises(
            ValueError,
            match=r"trainer 'T' needs min_new_data_count=11 new items in data user "
            r"'a', which can never count more than 10 \(it keeps max_queue_size timestamps\); expected min_new_data_count <= 10",
        ):
            MinNewData("a", 11).validate("T", users)

    def test_validate_rejects_an_unknown_user(self, users: DataUsersDict) -> None:
        with pytest.raises(KeyError, match=r"named 'x'; expected one of: 'a', 'b'"):
            MinNewData("x", 1).validate("T", users)

    def test_describes_itself(self) -> None:
        cond = MinNewData("a", 3)
        assert cond.data_user_names == frozenset({"a"})
        assert repr(cond) == "MinNewData('a', 3)"

    @pytest.mark.parametrize(
        ("args", "error", "message"),
        [
            (("a", -2), ValueError, r"min_new_data_count must be >= 0, got -2"),
            (("a", False), TypeError, r"min_new_data_count must be an int, got False"),
            (("a", "3"), TypeError, r"min_new_data_count must be an int, got '3'"),
            ((7, 1), TypeError, r"data_user must be a non-empty str, got 7"),
        ],
        ids=["negative", "bool", "str", "int-name"],
    )
    def test_rejects_bad_arguments(
        self, args: tuple[Any, Any], error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            MinNewData(*args)


class TestMinInterval:
    def test_holds_before_the_first_training(self, users: DataUsersDict) -> None:
        cond = MinInterval(60)
        assert cond.precheck(ctx(users)).ready
        assert cond.is_satisfied(ctx(users))

    @pytest.mark.parametrize(
        ("now", "ready"),
        [(100.0, False), (104.9, False), (105.0, True), (200.0, True)],
        ids=["just-trained", "almost", "exactly", "later"],
    )
    def test_waits_for_a_deadline(
        self, users: DataUsersDict, now: float, ready: bool
    ) -> None:
        cond = MinInterval(5)
        context = ctx(users, now=now, previous=100.0)
        expected = Readiness(True) if ready else Readiness(False, deadline=105.0)
        assert cond.precheck(context) == expected
        assert cond.is_satisfied(context) is ready

    def test_zero_seconds_always_holds(self, users: DataUsersDict) -> None:
        cond = MinInterval(0)
        assert cond.is_satisfied(ctx(users, now=100.0, previous=100.0))

    def test_reads_no_data_user(self, users: DataUsersDict) -> None:
        cond = MinInterval(1.5)
        assert cond.data_user_names == frozenset()
        cond.validate("T", DataUsersDict())
        assert repr(cond) == "MinInterval(1.5)"

    @pytest.mark.parametrize(
        ("seconds", "error", "message"),
        [
            (
                -1,
                ValueError,
                r"seconds must be a finite number of seconds >= 0, got -1",
            ),
            (math.inf, ValueError, r"seconds must be a finite number of seconds"),
            (math.nan, ValueError, r"got nan"),
            (True, TypeError, r"seconds must be a number of seconds, got True"),
            ("5", TypeError, r"seconds must be a number of seconds, got '5'"),
        ],
        ids=["negative", "inf", "nan", "bool", "str"],
    )
    def test_rejects_bad_seconds(
        self, seconds: Any, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            MinInterval(seconds)


class TestSampleToInsertRatio:
    def test_needs_min_size_to_sample_before_the_first_run(
        self, users: DataUsersDict
    ) -> None:
        cond = SampleToInsertRatio("a", 2.0, samples_per_run=4, min_size_to_sample=10)
        collect(users, "a", 10)
        # at min_size_to_sample nothing was inserted past it yet: 4 > 2 * 0
        assert not cond.is_satisfied(ctx(users))
        assert cond.precheck(ctx(users)) == Readiness(False, {"a": 12})

    def test_each_run_needs_its_share_of_inserts(self, users: DataUsersDict) -> None:
        # spi=2, spr=4: run k (0-based) needs 4(k+1) <= 2 * (collected - 3)
        cond = SampleToInsertRatio("a", 2.0, samples_per_run=4, min_size_to_sample=3)
        big = DataUsersDict.from_data_buffers(a=SequentialBuffer[int](100))
        seen: list[tuple[int, int]] = []
        runs = 0
        for collected in range(1, 20):
            collect(big, "a", 1)
            context = ctx(big, runs=runs)
            if cond.is_satisfied(context):
                assert cond.precheck(context).ready
                seen.append((runs, collected))
                runs += 1
            else:
                wake = cond.precheck(context)
                assert not wake.ready
                assert wake.wake_totals["a"] > collected
        assert seen == [(k, 5 + 2 * k) for k in range(8)]

    def test_precheck_wake_total_is_exact(self, users: DataUsersDict) -> None:
        cond = SampleToInsertRatio("a", 0.5, samples_per_run=2, min_size_to_sample=0)
        big = DataUsersDict.from_data_buffers(a=SequentialBuffer[int](100))
        for runs in range(4):
            wake = cond.precheck(ctx(big, runs=runs))
            target = wake.wake_totals["a"]
            # exactly at the target, not one before
            c = big["a"].collector
            while c.collected < target - 1:
                c.collect(0)
            assert not cond.is_satisfied(ctx(big, runs=runs))
            c.collect(0)
            assert cond.is_satisfied(ctx(big, runs=runs))
            assert c.collected == 4 * (runs + 1)

    def test_error_buffer_allows_running_ahead(self, users: DataUsersDict) -> None:
        strict = SampleToInsertRatio("a", 1.0, min_size_to_sample=1)
        loose = SampleToInsertRatio("a", 1.0, min_size_to_sample=1, error_buffer=2.0)
        collect(users, "a", 1)
        assert not strict.is_satisfied(ctx(users))
        assert loose.is_satisfied(ctx(users, runs=1))  # 2 samples <= 0 + 2
        assert not loose.is_satisfied(ctx(users, runs=2))

    def test_never_runs_without_data(self, users: DataUsersDict) -> None:
        cond = SampleToInsertRatio("a", 1.0, min_size_to_sample=0, error_buffer=10.0)
        assert not cond.is_satisfied(ctx(users))
        assert cond.precheck(ctx(users)) == Readiness(False, {"a": 1})
        collect(users, "a", 1)
        assert cond.is_satisfied(ctx(users))

    def test_describes_itself(self) -> None:
        cond = SampleToInsertRatio("a", 2.0)
        assert cond.data_user_names == frozenset({"a"})
        assert repr(cond) == (
            "SampleToInsertRatio('a', 2.0, samples_per_run=1, "
            "min_size_to_sample=1, error_buffer=0.0)"
        )

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            (
                {"samples_per_insert": 0},
                ValueError,
                r"samples_per_insert must be a finite number > 0, got 0",
            ),
            (
                {"samples_per_insert": -1.0},
                ValueError,
                r"samples_per_insert must be a finite number > 0, got -1\.0",
            ),
            (
                {"samples_per_insert": math.inf},
                ValueError,
                r"samples_per_insert must be a finite number > 0, got inf",
            ),
            (
                {"samples_per_insert": True},
                TypeError,
                r"samples_per_insert must be a number > 0, got True",
            ),
            (
                {"samples_per_run": 0},
                ValueError,
                r"samples_per_run must be >= 1, got 0",
            ),
            (
                {"samples_per_run": 1.0},
                TypeError,
                r"samples_per_run must be an int, got 1\.0",
            ),
            (
                {"min_size_to_sample": -1},
                ValueError,
                r"min_size_to_sample must be >= 0, got -1",
            ),
            (
                {"error_buffer": -0.5},
                ValueError,
                r"error_buffer must be a finite number >= 0, got -0\.5",
            ),
            (
                {"error_buffer": "1"},
                TypeError,
                r"error_buffer must be a number >= 0, got '1'",
            ),
            (
                {"data_user": ""},
                TypeError,
                r"data_user must be a non-empty str, got ''",
            ),
        ],
        ids=[
            "spi-zero",
            "spi-negative",
            "spi-inf",
            "spi-bool",
            "spr-zero",
            "spr-float",
            "min-size-negative",
            "error-buffer-negative",
            "error-buffer-str",
            "empty-name",
        ],
    )
    def test_rejects_bad_arguments(
        self, kwargs: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        arguments: dict[str, Any] = {"data_user": "a", "samples_per_insert": 1.0}
        arguments.update(kwargs)
        with pytest.raises(error, match=message):
            SampleToInsertRatio(**arguments)


class TestCompound:
    def test_empty_all_of_always_holds(self, users: DataUsersDict) -> None:
        cond = all_of()
        assert cond.precheck(ctx(users)).ready
        assert cond.is_satisfied(ctx(users))

    def test_empty_any_of_never_holds(self, users: DataUsersDict) -> None:
        cond = any_of()
        assert cond.precheck(ctx(users)) == NOT_READY
        assert not cond.is_satisfied(ctx(users))

    def test_all_of_waits_for_the_parts_that_are_not_ready(
        self, users: DataUsersDict
    ) -> None:
        collect(users, "a", 3)
        cond = all_of(MinNewData("a", 2), MinNewData("b", 4), MinInterval(10))
        context = ctx(users, now=105.0, previous=100.0)
        assert cond.precheck(context) == Readiness(False, {"b": 4}, 110.0)
        users["a"].update()
        assert not cond.is_satisfied(context)

    def test_all_of_holds_when_every_part_does(self, users: DataUsersDict) -> None:
        collect(users, "a", 3)
        collect(users, "b", 4)
        users["a"].update()
        users["b"].update()
        cond = all_of(MinBufferSize("a", 3), MinNewData("b", 4), MinInterval(10))
        context = ctx(users, now=110.0, previous=100.0)
        assert cond.precheck(context).ready
        assert cond.is_satisfied(context)
        assert not cond.is_satisfied(ctx(users, now=109.0, previous=100.0))

    def test_any_of_is_ready_when_one_part_is(self, users: DataUsersDict) -> None:
        collect(users, "a", 2)
        users["a"].update()
        cond = any_of(MinNewData("a", 2), MinNewData("b", 4))
        assert cond.precheck(ctx(users)).ready
        assert cond.is_satisfied(ctx(users))

    def test_any_of_wakes_on_the_earliest_part(self, users: DataUsersDict) -> None:
        cond = any_of(
            MinNewData("a", 5), MinNewData("a", 3), MinNewData("b", 4), MinInterval(7)
        )
        context = ctx(users, now=101.0, previous=100.0)
        assert cond.precheck(context) == Readiness(False, {"a": 3, "b": 4}, 107.0)
        assert not cond.is_satisfied(context)

    def test_operators_combine(self) -> None:
        a, b, c = MinNewData("a", 1), MinBufferSize("b", 2), MinInterval(3)
        both = a & b
        either = a | c
        assert isinstance(both, AllOf)
        assert isinstance(either, AnyOf)
        assert both.conditions == (a, b)
        assert either.conditions == (a, c)
        assert repr(both | c) == (
            "any_of(all_of(MinNewData('a', 1), MinBufferSize('b', 2)), MinInterval(3.0))"
        )

    def test_data_user_names_are_the_union(self) -> None:
        cond = all_of(MinNewData("a", 1), any_of(MinBufferSize("b", 1), MinInterval(1)))
        assert cond.data_user_names == frozenset({"a", "b"})

    def test_validate_checks_every_part(self, users: DataUsersDict) -> None:
        cond = any_of(MinInterval(1), all_of(MinBufferSize("a", 1), MinNewData("z", 1)))
        with pytest.raises(KeyError, match=r"named 'z'; expected one of: 'a', 'b'"):
            cond.validate("T", users)
        too_big = all_of(MinNewData("a", 1), MinBufferSize("b", 11))
        with pytest.raises(ValueError, match=r"min_buffer_size=11"):
            too_big.validate("T", users)

    @pytest.mark.parametrize("combine", [all_of, any_of], ids=["all_of", "any_of"])
    def test_rejects_non_conditions(self, combine: Any) -> None:
        with pytest.raises(TypeError, match=r"expected Condition objects, got 3"):
            combine(MinInterval(1), 3)

    def test_a_custom_condition_composes(self, users: DataUsersDict) -> None:
        class Flag(Condition):
            def __init__(self) -> None:
                self.value = False

            def precheck(self, ctx: ConditionContext) -> Readiness:
                return Readiness(self.value)

            def is_satisfied(self, ctx: ConditionContext) -> bool:
                return self.value

        flag = Flag()
        cond = flag & MinInterval(0)
        assert not cond.is_satisfied(ctx(users))
        flag.value = True
        assert cond.is_satisfied(ctx(users))
        assert cond.data_user_names == frozenset()
