"""The Trainer: pamiq-core's contract, kept exactly."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import time as _clock
from ..data.dicts import DataUsersDict
from ..data.user import DataUser
from ..model.dicts import TrainingModelsDict
from ..model.interface import TrainingModel
from ..state.persistence import PersistentStateMixin
from ..thread_events import ThreadEventMixin
from .conditions import (
    Condition,
    ConditionContext,
    MinBufferSize,
    MinNewData,
    all_of,
)
from .errors import NotAttachedError
from .metrics import MetricsRecorder

__all__ = ["Trainer"]

_RUNS_FILE = "runs"


class Trainer(ABC, PersistentStateMixin, ThreadEventMixin):
    """Train models on the data of data users; override :meth:`train`.

    The contract is pamiq-core's: :meth:`run` checks :meth:`is_trainable`, then
    calls ``setup(); train(); sync_models(); teardown()``. A pamiq-core trainer runs
    here with only its imports changed.

    :param training_condition_data_user: the data user whose data gates training;
        ``None`` means always trainable (unless ``condition`` says otherwise).
    :param min_buffer_size: items that data user must hold.
    :param min_new_data_count: items that must have arrived since the last run.
    :param condition: an extra :class:`~aiotrainer.Condition` (aiotrainer's
        addition, keyword-only), e.g. ``MinInterval(5.0)``; it must hold too.
    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: for negative sizes or counts.
    """

    _training_models: Mapping[str, TrainingModel[Any]]
    _data_users: Mapping[str, DataUser[Any]]

    def __init__(
        self,
        training_condition_data_user: str | None = None,
        min_buffer_size: int = 0,
        min_new_data_count: int = 0,
        *,
        condition: Condition | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if training_condition_data_user is not None and (
            not isinstance(training_condition_data_user, str)
            or not training_condition_data_user
        ):
            raise TypeError(
                f"{name}: training_condition_data_user must be a non-empty str or "
                f"None, got {training_condition_data_user!r}"
            )
        if condition is not None and not isinstance(condition, Condition):
            raise TypeError(f"{name}: condition must be a Condition, got {condition!r}")
        parts: list[Condition] = []
        if training_condition_data_user is not None:
            parts += [
                MinBufferSize(training_condition_data_user, min_buffer_size),
                MinNewData(training_condition_data_user, min_new_data_count),
            ]
        else:
            # Validate the numbers even though, as in pamiq-core, they are ignored
            # without a condition data user.
            MinBufferSize("-", min_buffer_size)
            MinNewData("-", min_new_data_count)
        self._retrieved_model_names: set[str] = set()
        self._training_condition_data_user = training_condition_data_user
        self._min_buffer_size = min_buffer_size
        self._min_new_data_count = min_new_data_count
        self._previous_training_time = float("-inf")
        self._extra_condition = condition
        # Fixed from here on (the scheduler reads it on every dispatch): the pamiq
        # pair as one all_of, and the extra condition beside it.
        both = [c for c in (all_of(*parts) if parts else None, condition) if c]
        self._condition: Condition | None = (
            None if not both else (both[0] if len(both) == 1 else all_of(*both))
        )
        self._collected_at_previous_training: dict[str, int] = {}
        self._completed_runs = 0
        self._restored_runs = 0
        self._metrics = MetricsRecorder()

    # -- attaching -------------------------------------------------------------

    def attach_training_models(
        self, training_models: TrainingModelsDict | Mapping[str, TrainingModel[Any]]
    ) -> None:
        """Attach the training models, then call :meth:`on_training_models_attached`.

        :param training_models: a :class:`TrainingModelsDict`, or any mapping of
            name -> model (as pamiq-core accepts).
        :raises TypeError: for something that is not a mapping of training models.
        """
        if not isinstance(training_models, TrainingModelsDict) and (
            not isinstance(training_models, Mapping)
            or not all(isinstance(m, TrainingModel) for m in training_models.values())
        ):
            raise TypeError(
                f"{type(self).__name__}.attach_training_models() needs a "
                f"TrainingModelsDict (a mapping of name -> TrainingModel), "
                f"got {type(training_models).__name__}"
            )
        self._training_models = training_models
        self.on_training_models_attached()

    def on_training_models_attached(self) -> None:
        """Hook: retrieve models here with :meth:`get_training_model`."""

    def attach_data_users(
        self, data_users: DataUsersDict | Mapping[str, DataUser[Any]]
    ) -> None:
        """Attach the data users, check the condition against them, then call
        :meth:`on_data_users_attached`.

        :param data_users: a :class:`DataUsersDict`, or any mapping of name ->
            data user (as pamiq-core accepts).
        :raises TypeError: for something that is not a mapping of data users.
        :raises KeyError: if the condition names an unknown data user.
        :raises ValueError: for a condition that can never be met, e.g.
            ``min_buffer_size`` above the buffer's capacity.
        """
        if not isinstance(data_users, Mapping) or not all(
            isinstance(u, DataUser) for u in data_users.values()
        ):
            raise TypeError(
                f"{type(self).__name__}.attach_data_users() needs a DataUsersDict "
                f"(a mapping of name -> DataUser), got {type(data_users).__name__}"
            )
        condition = self.trainability_condition
        if condition is not None:
            condition.validate(type(self).__name__, data_users)
        self._data_users = data_users
        self.on_data_users_attached()

    def on_data_users_attached(self) -> None:
        """Hook: retrieve data users here with :meth:`get_data_user`."""

    def get_training_model(self, name: str) -> TrainingModel[Any]:
        """Return the training model ``name`` and sync it after every run.

        :raises KeyError: for an unknown name, listing the known ones.
        :raises NotAttachedError: before :meth:`attach_training_models`.
        """
        models = self._attached_models()
        model = models[name]
        self._retrieved_model_names.add(name)
        return model

    def get_data_user(self, name: str) -> DataUser[Any]:
        """Return the data user ``name``.

        :raises KeyError: for an unknown name, listing the known ones.
        :raises NotAttachedError: before :meth:`attach_data_users`.
        """
        return self._attached_users()[name]

    def _attached_models(self) -> Mapping[str, TrainingModel[Any]]:
        try:
            return self._training_models
        except AttributeError:
            raise NotAttachedError(
                type(self).__name__,
                "training models",
                "attach_training_models",
                "on_training_models_attached",
            ) from None

    def _attached_users(self) -> Mapping[str, DataUser[Any]]:
        try:
            return self._data_users
        except AttributeError:
            raise NotAttachedError(
                type(self).__name__,
                "data users",
                "attach_data_users",
                "on_data_users_attached",
            ) from None

    # -- trainability ----------------------------------------------------------

    @property
    def trainability_condition(self) -> Condition | None:
        """The built-in condition (the pamiq pair and the extra one), or ``None``."""
        return self._condition

    @property
    def retrieved_model_names(self) -> frozenset[str]:
        """The models retrieved with :meth:`get_training_model` (synced after runs)."""
        return frozenset(self._retrieved_model_names)

    @property
    def previous_training_time(self) -> float:
        """:func:`aiotrainer.time.time` when the trainer was last found trainable."""
        return self._previous_training_time

    def condition_context(self, now: float | None = None) -> ConditionContext:
        """The view of this trainer that conditions evaluate."""
        return ConditionContext(
            data_users=getattr(self, "_data_users", {}),
            now=_clock.time() if now is None else now,
            previous_training_time=self._previous_training_time,
            collected_at_previous_training=self._collected_at_previous_training,
            runs=self._completed_runs,
        )

    def is_trainable(self) -> bool:
        """Whether a run should happen now (pamiq-core's rule, plus ``condition``).

        With a condition data user it calls the user's ``update()`` and holds iff
        ``len(user) >= min_buffer_size`` and ``count_data_added_since(previous
        training time) >= min_new_data_count``; then it records the time.
        """
        extra = self._extra_condition
        if extra is not None:
            for name in extra.data_user_names:
                self.get_data_user(name).update()
            if not extra.is_satisfied(self.condition_context()):
                return False
        if self._training_condition_data_user is None:
            if extra is None:
                return True  # pamiq-core: always trainable, nothing recorded
            trainable = True
        else:
            data_user = self.get_data_user(self._training_condition_data_user)
            data_user.update()
            trainable = (
                len(data_user) >= self._min_buffer_size
                and data_user.count_data_added_since(self._previous_training_time)
                >= self._min_new_data_count
            )
        if trainable:
            self._mark_trained()
        return trainable

    def _training_mark(self) -> tuple[float, dict[str, int]]:
        """What :meth:`is_trainable` records, to undo it if the run then fails."""
        return self._previous_training_time, dict(self._collected_at_previous_training)

    def _restore_training_mark(self, mark: tuple[float, dict[str, int]]) -> None:
        """Undo what a failed run's :meth:`is_trainable` recorded (for a retry)."""
        self._previous_training_time = mark[0]
        self._collected_at_previous_training = dict(mark[1])

    def _resync_after_restore(self) -> None:
        """Line the pre-check's counters up with restored data users.

        Collectors count from 0 in a new process, but restored buffers may hold
        items newer than the restored previous training time: they count as new
        for :meth:`is_trainable`, so they must for the pre-check too.
        """
        users = getattr(self, "_data_users", None)
        condition = self.trainability_condition
        if users is None or condition is None:
            return
        for name in condition.data_user_names:
            user = users[name]
            new = user.count_data_added_since(self._previous_training_time)
            self._collected_at_previous_training[name] = user.collector.collected - new

    def _mark_trained(self) -> None:
        users = getattr(self, "_data_users", None)
        if users is not None:
            names = self.trainability_condition
            for name in names.data_user_names if names else ():
                self._collected_at_previous_training[name] = users[
                    name
                ].collector.collected
        self._previous_training_time = _clock.time()

    # -- running ---------------------------------------------------------------

    def setup(self) -> None:
        """Hook: before :meth:`train`."""

    @abstractmethod
    def train(self) -> None:
        """Train the models; models retrieved are synced afterwards."""

    def sync_models(self) -> None:
        """Call ``sync()`` on every retrieved training model."""
        models = self._attached_models()
        for name in self._retrieved_model_names:
            models[name].sync()

    def teardown(self) -> None:
        """Hook: after :meth:`sync_models`."""

    def run(self) -> bool:
        """Run once if trainable: ``setup(); train(); sync_models(); teardown()``.

        :return: True if it trained, False if it was not trainable.
        """
        if not self.is_trainable():
            return False
        self.setup()
        self.train()
        self.sync_models()
        self.teardown()
        self._completed_runs += 1
        return True

    # -- metrics ---------------------------------------------------------------

    def log_metrics(self, values: Mapping[str, float]) -> None:
        """Record scalars (e.g. ``{"loss": 0.12}``) for the current run.

        Thread-safe; call it from :meth:`train`. NaN and infinities are kept and
        shown as such. The values appear in ``status()``, the events, the HTTP
        API and ``/metrics``, and in a bounded history saved with checkpoints.

        :param values: metric name -> number.
        :raises TypeError: for a non-mapping, a bad name or a non-number value.
        """
        self._metrics.log(values)

    @property
    def metrics(self) -> MetricsRecorder:
        """This trainer's logged metrics and run records."""
        return self._metrics

    # -- state -----------------------------------------------------------------

    @property
    def restored_runs(self) -> int:
        """Runs that trained before the state this trainer was loaded from was
        saved (0 without a restore): the service's status counts on from it."""
        return self._restored_runs

    def save_state(self, path: Path) -> None:
        """Make directory ``path`` and write ``previous_training_time`` in it
        (pamiq-core's layout), and the number of runs so far (``runs``)."""
        path.mkdir()
        (path / "previous_training_time").write_text(
            str(self._previous_training_time), encoding="utf-8"
        )
        (path / _RUNS_FILE).write_text(
            str(self._restored_runs + self._completed_runs), encoding="utf-8"
        )
        self._metrics.save(path)

    def load_state(self, path: Path) -> None:
        """Read ``previous_training_time`` back from directory ``path``, and the
        run count if there is one (a pamiq-core state has none)."""
        self._previous_training_time = float(
            (path / "previous_training_time").read_text("utf-8")
        )
        runs = path / _RUNS_FILE
        if runs.is_file():
            self._restored_runs = int(runs.read_text("utf-8")) - self._completed_runs
        self._metrics.load(path)
