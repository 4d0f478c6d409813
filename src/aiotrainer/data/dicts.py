"""Named collections of data users and collectors."""

from __future__ import annotations

from collections import UserDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._validate import check_component_name
from ..errors import UnknownNameError
from ..state.persistence import PersistentStateMixin
from .buffer import DataBuffer
from .collector import DataCollector
from .errors import CollectorAlreadyAcquiredError
from .user import DataUser

__all__ = ["DataCollectorsDict", "DataUsersDict"]


class DataCollectorsDict(UserDict[str, DataCollector[Any]]):
    """The collectors of a set of data users, each acquired once.

    :meth:`acquire` hands a collector out once per name; asking twice is an error,
    as in pamiq-core, so that two parts of a program do not feed one stream by
    accident. The collector itself is thread-safe: share the one you acquired
    among as many producer threads (and tasks) as you like.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._acquired: set[str] = set()
        super().__init__(*args, **kwargs)

    def __missing__(self, key: str) -> DataCollector[Any]:
        raise UnknownNameError("data collector", key, self.data)

    def acquire(self, name: str) -> DataCollector[Any]:
        """Take the collector ``name``; each name can be acquired once.

        "Once" is about who is handed it, not about who calls it: ``collect()`` is
        thread-safe and never blocks, so share the returned collector among all
        the producers of that stream, in any threads. :meth:`release` makes the
        name acquirable again.

        :param name: the buffer's name.
        :return: the collector that feeds that buffer's data user.
        :raises KeyError: (:class:`~aiotrainer.UnknownNameError`) for an unknown
            name, listing the known ones; (``CollectorAlreadyAcquiredError``) if it
            was acquired before.
        """
        if name not in self.data:
            raise UnknownNameError(
                "data collector",
                name,
                self.data,
                lead=f"Data collector {name!r} not found",  # pamiq-core's words
            )
        if name in self._acquired:
            raise CollectorAlreadyAcquiredError(name)
        self._acquired.add(name)
        return self.data[name]

    def release(self, name: str) -> None:
        """Give an acquired collector back so that it can be acquired again."""
        self._acquired.discard(name)

    @property
    def acquired(self) -> frozenset[str]:
        """The names acquired so far."""
        return frozenset(self._acquired)


class DataUsersDict(UserDict[str, DataUser[Any]], PersistentStateMixin):
    """Data users by name; their collectors are in :attr:`data_collectors_dict`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._data_collectors_dict = DataCollectorsDict()
        super().__init__(*args, **kwargs)

    @property
    def data_collectors_dict(self) -> DataCollectorsDict:
        """The collectors, by the same names."""
        return self._data_collectors_dict

    def __setitem__(self, key: str, item: DataUser[Any]) -> None:
        check_component_name("data user", key)
        if not isinstance(item, DataUser):
            raise TypeError(
                f"data user {key!r} must be a DataUser, got {type(item).__name__}"
            )
        super().__setitem__(key, item)
        self._data_collectors_dict[key] = item._collector

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._data_collectors_dict.pop(key, None)
        self._data_collectors_dict.release(key)

    def __missing__(self, key: str) -> DataUser[Any]:
        raise UnknownNameError("data user", key, self.data)

    @classmethod
    def from_data_buffers(
        cls,
        mapping: Mapping[str, DataBuffer[Any, Any]] | None = None,
        /,
        **buffers: DataBuffer[Any, Any],
    ) -> DataUsersDict:
        """Make a data user for each buffer.

        :param mapping: name -> buffer.
        :param buffers: more name -> buffer, as keywords.
        :raises TypeError: if a value is not a DataBuffer.
        """
        merged: dict[str, DataBuffer[Any, Any]] = dict(mapping or {})
        merged.update(buffers)
        out = cls()
        for name, buffer in merged.items():
            if not isinstance(buffer, DataBuffer):
                raise TypeError(
                    f"buffer {name!r} must be a DataBuffer, got {type(buffer).__name__}"
                )
            out[name] = DataUser(buffer)
        return out

    def save_state(self, path: Path) -> None:
        """Save each user into ``path/<name>``."""
        path.mkdir()
        for name, user in self.items():
            user.save_state(path / name)

    def load_state(self, path: Path) -> None:
        """Load each user from ``path/<name>``."""
        for name, user in self.items():
            user.load_state(path / name)
