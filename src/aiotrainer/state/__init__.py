"""Persistence: the state mixin, and atomic checkpoints."""

from .persistence import PersistentStateMixin

__all__ = ["PersistentStateMixin"]
