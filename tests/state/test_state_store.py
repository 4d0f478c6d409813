"""StateStore: pamiq-core's API, saving atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiotrainer import (
    DuplicateStateNameError,
    PersistentStateMixin,
    StateStore,
    load_pickle,
    save_pickle,
)


class Value(PersistentStateMixin):
    def __init__(self, value: object = None) -> None:
        self.value = value

    def save_state(self, path: Path) -> None:
        save_pickle(self.value, path.with_suffix(".pkl"))

    def load_state(self, path: Path) -> None:
        self.value = load_pickle(path.with_suffix(".pkl"))


class Exploding(PersistentStateMixin):
    def save_state(self, path: Path) -> None:
        path.mkdir()
        (path / "half").write_text("written")
        raise OSError("disk full")


class TestStateStore:
    def test_round_trip(self, tmp_path: Path) -> None:
        store = StateStore(tmp_path / "states")
        store.register("a", Value(1))
        store.register("b", Value([2]))
        path = store.save_state()
        assert sorted(p.name for p in path.iterdir()) == ["a.pkl", "b.pkl"]
        a, b = Value(), Value()
        loader = StateStore(tmp_path / "states")
        loader.register("a", a)
        loader.register("b", b)
        loader.load_state(str(path))
        assert (a.value, b.value) == (1, [2])

    def test_a_failed_save_leaves_nothing(self, tmp_path: Path) -> None:
        store = StateStore(tmp_path)
        store.register("ok", Value(1))
        store.register("bad", Exploding())
        with pytest.raises(OSError, match="disk full"):
            store.save_state()
        assert list(tmp_path.iterdir()) == []

    def test_two_saves_with_the_same_name_fail(self, tmp_path: Path) -> None:
        store = StateStore(tmp_path, state_name_format="fixed.state")
        store.save_state()
        with pytest.raises(FileExistsError, match="fixed.state"):
            store.save_state()

    def test_names_by_format(self, tmp_path: Path) -> None:
        path = StateStore(tmp_path, state_name_format="%Y.state").save_state()
        assert path.name.endswith(".state") and path.name[:4].isdigit()

    def test_load_of_a_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match=r"State path: .*nope.* not found!"):
            StateStore(tmp_path).load_state(tmp_path / "nope")

    def test_register_twice(self, tmp_path: Path) -> None:
        store = StateStore(tmp_path)
        store.register("a", Value())
        with pytest.raises(KeyError, match="State with name 'a' is already registered"):
            store.register("a", Value())
        assert issubclass(DuplicateStateNameError, KeyError)

    @pytest.mark.parametrize(
        ("name", "state", "error", "message"),
        [
            ("", Value(), TypeError, "non-empty str, got ''"),
            (3, Value(), TypeError, "non-empty str, got 3"),
            ("../x", Value(), ValueError, r"no '/'.*got '\.\./x'"),
            (".hidden", Value(), ValueError, r"got '\.hidden'"),
            ("a", object(), TypeError, "must have save_state.*got object"),
        ],
        ids=["empty", "int", "parent", "dot", "not-persistent"],
    )
    def test_register_rejects_bad_input(
        self, tmp_path: Path, name: object, state: object, error: type, message: str
    ) -> None:
        with pytest.raises(error, match=message):
            StateStore(tmp_path).register(name, state)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"states_dir": 3}, "states_dir must be a path, got 3"),
            ({"states_dir": ".", "state_name_format": ""}, "state_name_format must"),
        ],
        ids=["dir", "format"],
    )
    def test_constructor_rejects_bad_input(
        self, kwargs: dict[str, object], message: str
    ) -> None:
        with pytest.raises(TypeError, match=message):
            StateStore(**kwargs)  # type: ignore[arg-type]

    def test_creates_the_directory_but_not_its_parents(self, tmp_path: Path) -> None:
        StateStore(tmp_path / "new")
        assert (tmp_path / "new").is_dir()
        with pytest.raises(FileNotFoundError):
            StateStore(tmp_path / "a" / "b")


class TestPickleHelpers:
    def test_round_trip_with_str_and_path(self, tmp_path: Path) -> None:
        save_pickle({"k": (1, 2)}, str(tmp_path / "x.pkl"))
        assert load_pickle(tmp_path / "x.pkl") == {"k": (1, 2)}
        save_pickle([3], os.fspath(tmp_path / "y.pkl"))
        assert load_pickle(str(tmp_path / "y.pkl")) == [3]

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            load_pickle(tmp_path / "missing.pkl")
