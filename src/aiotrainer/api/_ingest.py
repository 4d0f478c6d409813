"""``POST /v1/data/{buffer}``: read, decode and check a batch of items."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import msgpack
from fastapi import HTTPException, Request
from pydantic import TypeAdapter, ValidationError

from .models import DataBatch

__all__ = ["MSGPACK_TYPES", "read_batch", "schema_adapters"]

MSGPACK_TYPES = frozenset(
    {"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"}
)


def schema_adapters(schemas: Mapping[str, Any] | None) -> dict[str, TypeAdapter[Any]]:
    """A validator per buffer from ``create_app(item_schemas=...)``.

    :raises TypeError: for a schema pydantic cannot build a validator for.
    """
    out: dict[str, TypeAdapter[Any]] = {}
    for name, schema in (schemas or {}).items():
        try:
            out[name] = TypeAdapter(schema)
        except Exception as exc:  # pydantic raises several kinds here
            raise TypeError(
                f"item_schemas[{name!r}]: {schema!r} is not a type pydantic can "
                f"validate ({exc})"
            ) from exc
    return out


def _validation_details(error: ValidationError, prefix: tuple[Any, ...]) -> list[Any]:
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in error.errors(
            include_url=False, include_input=False, include_context=False
        )
    ]


class _Refused:
    """Stands, in a decoded body, for a value the API does not accept."""

    __slots__ = ("msg",)

    def __init__(self, msg: str) -> None:
        self.msg = msg


_MAX_DETAILS = 10
"""How many refused values a 422 names (it counts them all)."""

_TIMESTAMP_HEADS = (b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff")
"""The first bytes of msgpack's timestamps (ext type -1, 4, 8 or 12 bytes),
which msgpack decodes itself, without the ext hook."""


def _refused_values(document: Any) -> tuple[int, list[Any]]:
    """How many values in ``document`` are refused, and the first ones' details
    (``loc`` under ``body``), in document order."""
    count = 0
    details: list[Any] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [(("body",), document)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, dict):
            children: Any = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        else:
            if isinstance(value, msgpack.Timestamp):
                value = _Refused("ext type -1 (a timestamp) is not accepted")
            if isinstance(value, _Refused):
                count += 1
                if len(details) < _MAX_DETAILS:
                    details.append(
                        {"loc": list(loc), "msg": value.msg, "type": "refused_value"}
                    )
            continue
        stack.extend(reversed([((*loc, key), child) for key, child in children]))
    return count, details


def _msgpack_problem(exc: Exception) -> str:
    """What is wrong, also for msgpack's errors that carry no message."""
    if str(exc):
        return str(exc)
    if isinstance(exc, msgpack.StackError):
        return "nested too deeply"
    if isinstance(exc, msgpack.FormatError):
        return "a byte that starts no msgpack value (such as 0xc1)"
    return type(exc).__name__


async def read_batch(request: Request, adapter: TypeAdapter[Any] | None) -> list[Any]:
    """The batch's items, decoded and checked against the buffer's schema.

    :raises HTTPException: 400 for a body that does not decode, 415 for an
        unknown content type, 422 for a wrong shape, items the schema refuses,
        JSON's non-standard ``NaN`` / ``Infinity`` or a number beyond a float's
        range (``1e999``), or msgpack's ext types (anywhere in the body;
        nothing is collected then).
    """
    raw = b"".join([chunk async for chunk in request.stream()])
    media = request.headers.get("content-type", "application/json")
    media = media.split(";", 1)[0].strip().lower()
    refused: list[_Refused] = []  # set by the decoders' hooks: walk only then
    if media in MSGPACK_TYPES:

        def ext_hook(code: int, data: bytes) -> _Refused:
            refused.append(_Refused(f"ext type {code} is not accepted"))
            return refused[-1]

        try:
            document = msgpack.unpackb(
                raw, raw=False, strict_map_key=True, ext_hook=ext_hook
            )
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise HTTPException(
                400, f"body is not valid msgpack: {_msgpack_problem(exc)}"
            ) from None
        if refused or any(head in raw for head in _TIMESTAMP_HEADS):
            _refuse(
                document,
                "msgpack ext types; expected msgpack without ext types (nil, "
                "bool, int, float, str, bin, array, map)",
            )
    elif media in ("application/json", "") or media.endswith("+json"):

        def parse_constant(name: str) -> _Refused:
            refused.append(_Refused(f"{name} is not a standard JSON number"))
            return refused[-1]

        def parse_float(text: str) -> float | _Refused:
            value = float(text)
            if math.isfinite(value):  # 1e999 reads as inf
                return value
            refused.append(_Refused(f"{text} is beyond a 64-bit float's range"))
            return refused[-1]

        try:
            document = json.loads(
                raw, parse_constant=parse_constant, parse_float=parse_float
            )
        except (ValueError, RecursionError) as exc:
            raise HTTPException(400, f"body is not valid JSON: {exc}") from None
        if refused:
            _refuse(
                document,
                "not finite numbers (NaN, Infinity, -Infinity, or beyond a 64-bit "
                "float's range); expected finite numbers",
            )
    else:
        raise HTTPException(
            415,
            f"content type {media!r} is not accepted; expected application/json "
            "or application/msgpack",
        )
    try:
        batch = DataBatch.model_validate(document)
    except ValidationError as exc:
        raise _Unprocessable(
            'body must be an object {"items": [...]}',
            _validation_details(exc, ("body",)),
        ) from None
    if adapter is None:
        return batch.items
    items: list[Any] = []
    problems: list[Any] = []
    for index, item in enumerate(batch.items):
        try:
            items.append(adapter.validate_python(item))
        except ValidationError as exc:
            problems += _validation_details(exc, ("body", "items", index))
    if problems:
        raise _Unprocessable(
            f"{len({p['loc'][2] for p in problems})} of {len(batch.items)} item(s) "
            "do not match the buffer's item schema; nothing was collected",
            problems,
        )
    return items


def _refuse(document: Any, what: str) -> None:
    """Raise a 422 naming where the refused values are, if any is.

    :raises _Unprocessable: when ``document`` holds a refused value.
    """
    count, details = _refused_values(document)
    if count:
        raise _Unprocessable(
            f"{count} value(s) in the body are {what}; nothing was collected",
            details,
        )


class _Unprocessable(HTTPException):
    def __init__(self, message: str, details: list[Any]) -> None:
        super().__init__(422, message)
        self.details = details
