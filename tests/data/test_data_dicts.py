"""DataUsersDict and DataCollectorsDict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiotrainer import (
    AiotrainerError,
    CollectorAlreadyAcquiredError,
    DataCollectorsDict,
    DataUser,
    DataUsersDict,
    RandomReplacementBuffer,
    SequentialBuffer,
    UnknownNameError,
)


@pytest.fixture
def users() -> DataUsersDict:
    return DataUsersDict.from_data_buffers(
        {"obs": SequentialBuffer[int](4)},
        reward=RandomReplacementBuffer[float](3, replace_probability=0.0),
    )


class TestDataUsersDict:
    def test_from_data_buffers_merges_mapping_and_keywords(self) -> None:
        obs, act = SequentialBuffer[int](2), SequentialBuffer[int](3)
        users = DataUsersDict.from_data_buffers({"obs": obs}, act=act)
        assert sorted(users) == ["act", "obs"]
        assert users["obs"].buffer is obs
        assert users["act"].buffer is act
        assert all(isinstance(u, DataUser) for u in users.values())

    def test_from_data_buffers_takes_keywords_only(self) -> None:
        users = DataUsersDict.from_data_buffers(a=SequentialBuffer[int](1))
        assert list(users) == ["a"]

    def test_from_data_buffers_keywords_win_over_the_mapping(self) -> None:
        first, second = SequentialBuffer[int](1), SequentialBuffer[int](2)
        users = DataUsersDict.from_data_buffers({"a": first}, a=second)
        assert users["a"].buffer is second

    def test_from_data_buffers_accepts_a_key_named_mapping(self) -> None:
        # the mapping is positional-only, so "mapping" is a free buffer name
        buffer = SequentialBuffer[int](1)
        users = DataUsersDict.from_data_buffers(mapping=buffer)
        assert users["mapping"].buffer is buffer

    def test_from_data_buffers_with_nothing_is_empty(self) -> None:
        users = DataUsersDict.from_data_buffers()
        assert len(users) == 0
        assert len(users.data_collectors_dict) == 0

    def test_rejects_a_non_buffer(self) -> None:
        with pytest.raises(
            TypeError, match=r"buffer 'obs' must be a DataBuffer, got list"
        ):
            DataUsersDict.from_data_buffers(obs=[])  # type: ignore[arg-type]

    def test_collectors_are_the_users_collectors(self, users: DataUsersDict) -> None:
        collectors = users.data_collectors_dict
        assert isinstance(collectors, DataCollectorsDict)
        assert sorted(collectors) == ["obs", "reward"]
        for name, user in users.items():
            assert collectors[name] is user.collector

    def test_collected_items_reach_the_user(self, users: DataUsersDict) -> None:
        users.data_collectors_dict.acquire("obs").collect(7)
        users["obs"].update()
        assert users["obs"].get_data() == [7]

    def test_setting_a_user_registers_its_collector(self) -> None:
        users = DataUsersDict()
        user = DataUser(SequentialBuffer[int](1))
        users["x"] = user
        assert users.data_collectors_dict["x"] is user.collector

    def test_constructor_mapping_registers_collectors(self) -> None:
        user = DataUser(SequentialBuffer[int](1))
        users = DataUsersDict({"x": user})
        assert users.data_collectors_dict["x"] is user.collector

    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [
            ("", "user", r"a data user's name must be a non-empty str, got ''"),
            (3, "user", r"a data user's name must be a non-empty str, got 3"),
            ("x", SequentialBuffer(1), r"data user 'x' must be a DataUser, got "),
        ],
        ids=["empty-name", "int-name", "buffer-not-user"],
    )
    def test_rejects_bad_entries(self, key: Any, value: Any, message: str) -> None:
        if value == "user":
            value = DataUser(SequentialBuffer[int](1))
        users = DataUsersDict()
        with pytest.raises(TypeError, match=message):
            users[key] = value
        assert len(users) == 0
        assert len(users.data_collectors_dict) == 0

    def test_unknown_name_lists_the_known_ones(self, users: DataUsersDict) -> None:
        with pytest.raises(
            KeyError,
            match=r"no data user named 'act'; expected one of: 'obs', 'reward'",
        ) as info:
            users["act"]
        assert isinstance(info.value, UnknownNameError)
        assert isinstance(info.value, AiotrainerError)

    def test_unknown_name_in_an_empty_dict(self) -> None:
        with pytest.raises(KeyError, match=r"expected one of: none registered"):
            DataUsersDict()["x"]

    def test_membership_and_get_do_not_raise(self, users: DataUsersDict) -> None:
        assert "act" not in users
        assert users.get("act") is None

    def test_save_and_load_each_user(
        self, users: DataUsersDict, tmp_path: Path
    ) -> None:
        collectors = users.data_collectors_dict
        obs, reward = collectors.acquire("obs"), collectors.acquire("reward")
        for i in range(6):
            obs.collect(i)
        for r in (0.5, 1.5):
            reward.collect(r)

        users.save_state(tmp_path / "users")

        assert sorted(p.name for p in (tmp_path / "users").iterdir()) == [
            "obs",
            "reward",
        ]
        restored = DataUsersDict.from_data_buffers(
            obs=SequentialBuffer[int](4),
            reward=RandomReplacementBuffer[float](3, replace_probability=0.0),
        )
        restored.load_state(tmp_path / "users")
        assert restored["obs"].get_data() == [2, 3, 4, 5]
        assert restored["reward"].get_data() == [0.5, 1.5]

    def test_save_into_an_existing_path_refuses(
        self, users: DataUsersDict, tmp_path: Path
    ) -> None:
        with pytest.raises(FileExistsError):
            users.save_state(tmp_path)


class TestDataCollectorsDict:
    def test_acquire_returns_the_collector(self, users: DataUsersDict) -> None:
        collectors = users.data_collectors_dict
        assert collectors.acquire("obs") is users["obs"].collector
        assert collectors.acquired == frozenset({"obs"})

    def test_second_acquire_raises_naming_the_collector(
        self, users: DataUsersDict
    ) -> None:
        collectors = users.data_collectors_dict
        collectors.acquire("obs")
        with pytest.raises(
            KeyError, match=r"data collector 'obs' is already acquired"
        ) as info:
            collectors.acquire("obs")
        assert isinstance(info.value, CollectorAlreadyAcquiredError)
        assert isinstance(info.value, AiotrainerError)
        # the other collector is still free
        assert collectors.acquire("reward") is users["reward"].collector

    def test_release_allows_a_new_acquire(self, users: DataUsersDict) -> None:
        collectors = users.data_collectors_dict
        first = collectors.acquire("obs")
        collectors.release("obs")
        assert collectors.acquired == frozenset()
        assert collectors.acquire("obs") is first

    def test_acquire_of_an_unknown_name_lists_the_known_ones(
        self, users: DataUsersDict
    ) -> None:
        with pytest.raises(
            KeyError,
            match=r"Data collector 'act' not found; expected one of: 'obs', 'reward'",
        ) as info:
            users.data_collectors_dict.acquire("act")
        assert isinstance(info.value, UnknownNameError)
        assert users.data_collectors_dict.acquired == frozenset()

    def test_lookup_of_an_unknown_name_lists_the_known_ones(
        self, users: DataUsersDict
    ) -> None:
        with pytest.raises(
            KeyError, match=r"no data collector named 'x'; expected one of: 'obs'"
        ):
            users.data_collectors_dict["x"]

    def test_lookup_does_not_acquire(self, users: DataUsersDict) -> None:
        collectors = users.data_collectors_dict
        assert collectors["obs"] is users["obs"].collector
        assert collectors.acquire("obs") is users["obs"].collector
