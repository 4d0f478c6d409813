"""The checkpoint manifest: its schema, writing and reading it (internal).

``manifest.json`` is written last into a checkpoint, so a directory with a valid
manifest is a complete checkpoint. Any change to its fields bumps
:data:`FORMAT_VERSION`; a reader refuses a version newer than its own.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from ._atomic import FileDigest
from .checkpoint import Checkpoint, CheckpointFile
from .errors import CheckpointVersionError, CorruptCheckpointError

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "dump_manifest",
    "parse_manifest",
    "peek_sequence",
]

#: The manifest format this version writes, and the newest it reads.
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    path: str
    size: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    @field_validator("path")
    @classmethod
    def _relative_inside(cls, value: str) -> str:
        pure = PurePosixPath(value)
        if (
            not value
            or pure.is_absolute()
            or "\\" in value
            or any(part in ("", ".", "..") for part in value.split("/"))
            or value == MANIFEST_NAME
        ):
            raise ValueError(
                f"not a plain relative path inside the checkpoint: {value!r}"
            )
        return value


class _ManifestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format_version: Annotated[int, Field(ge=1)]
    name: str
    created: AwareDatetime
    sequence: Annotated[int, Field(ge=1)]
    files: list[_FileModel]
    metadata: dict[str, Any]

    @field_validator("files")
    @classmethod
    def _unique(cls, value: list[_FileModel]) -> list[_FileModel]:
        paths = [f.path for f in value]
        if len(set(paths)) != len(paths):
            raise ValueError("a file is listed twice")
        return value


def dump_manifest(
    *,
    name: str,
    created: datetime,
    sequence: int,
    files: Sequence[FileDigest],
    metadata: Mapping[str, Any],
) -> bytes:
    """Render a manifest (format :data:`FORMAT_VERSION`) as UTF-8 JSON."""
    document = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "created": created.isoformat(),
        "sequence": sequence,
        "files": [{"path": p, "size": s, "sha256": h} for p, s, h in files],
        "metadata": dict(metadata),
    }
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode()


def parse_manifest(directory: Path, raw: bytes) -> Checkpoint:
    """Parse the manifest bytes of the checkpoint in ``directory``.

    :raises CheckpointVersionError: for a format newer than :data:`FORMAT_VERSION`.
    :raises CorruptCheckpointError: for anything else that is not a valid manifest.
    """
    document = _peek(raw)
    version = document.get("format_version") if document is not None else None
    if (
        isinstance(version, int)
        and not isinstance(version, bool)
        and version > FORMAT_VERSION
    ):
        raise CheckpointVersionError(directory, version, FORMAT_VERSION)
    try:
        model = _ManifestModel.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise CorruptCheckpointError(
            directory, f"{MANIFEST_NAME} is not a valid manifest ({problems})"
        ) from exc
    return Checkpoint(
        path=directory,
        name=directory.name,
        created=model.created.astimezone(UTC),
        format_version=model.format_version,
        metadata=types.MappingProxyType(model.metadata),
        files=tuple(
            CheckpointFile(path=f.path, size=f.size, sha256=f.sha256)
            for f in sorted(model.files, key=lambda f: f.path)
        ),
        sequence=model.sequence,
    )


def peek_sequence(raw: bytes) -> int | None:
    """Return the ``sequence`` of a manifest, of any version, if it has a sane one."""
    document = _peek(raw)
    sequence = document.get("sequence") if document is not None else None
    if isinstance(sequence, int) and not isinstance(sequence, bool) and sequence >= 1:
        return sequence
    return None


def _peek(raw: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None
