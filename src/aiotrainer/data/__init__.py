"""Buffers, collectors and data users: how experience reaches a trainer."""

from .buffer import DataBuffer
from .buffers import (
    DictRandomReplacementBuffer,
    DictSequentialBuffer,
    RandomReplacementBuffer,
    SequentialBuffer,
)
from .collector import DataCollector
from .dicts import DataCollectorsDict, DataUsersDict
from .errors import CollectorAlreadyAcquiredError
from .user import DataUser, DataUserStatistics

__all__ = [
    "CollectorAlreadyAcquiredError",
    "DataBuffer",
    "DataCollector",
    "DataCollectorsDict",
    "DataUser",
    "DataUserStatistics",
    "DataUsersDict",
    "DictRandomReplacementBuffer",
    "DictSequentialBuffer",
    "RandomReplacementBuffer",
    "SequentialBuffer",
]
