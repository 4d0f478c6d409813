"""A small synchronous client of the control API (httpx), used by the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
import msgpack

from ..status import ServiceState, ServiceStatus
from .errors import RequestError, ServerUnreachableError, UnexpectedResponseError
from .models import IngestResult, TrainerDetail, TrainerList

__all__ = ["DEFAULT_URL", "ApiClient"]

DEFAULT_URL = "http://127.0.0.1:8470"

_T = TypeVar("_T")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:  # not ours (a proxy, another server): not its whole page
        return f"{response.reason_phrase} (the answer is not JSON)"
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str):
        return message
    return json.dumps(body)


class ApiClient:
    """Talk to an aiotrainer control API.

    ::

        with ApiClient("http://127.0.0.1:8470", token=...) as api:
            print(api.status().state)
            api.ingest("experience", [{"x": 1.0}], msgpack=True)

    :param url: the API's base URL.
    :param token: the bearer token, if the API has one.
    :param timeout: seconds for each request (a pause may take longer: its own
        timeout is added).
    :raises ValueError: for a URL that is not http(s), has no host or a bad port.
    """

    def __init__(
        self, url: str = DEFAULT_URL, *, token: str | None = None, timeout: float = 10.0
    ) -> None:
        try:
            parsed = httpx.URL(url) if isinstance(url, str) else None
        except httpx.InvalidURL:
            parsed = None  # a bad port or bracket: refused below, like any other
        if (
            parsed is None
            or parsed.scheme not in ("http", "https")
            or not parsed.host
            or not 0 < (parsed.port or 80) < 65536
        ):
            raise ValueError(f"url must be an http(s) URL with a host, got {url!r}")
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self.url = url
        self._timeout = timeout
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections. Idempotent."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachableError(
                f"cannot reach {self.url}: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code >= 400:
            raise RequestError(response.status_code, _message(response))
        return response

    def _decode(self, response: httpx.Response, build: Callable[[Any], _T]) -> _T:
        """``build(the JSON body)``; an answer it cannot read is not ours."""
        try:
            return build(response.json())
        except (ValueError, KeyError, TypeError) as exc:  # pydantic's are ValueErrors
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UnexpectedResponseError(
                f"{self.url.rstrip('/')}{response.request.url.path}",
                f"{type(exc).__name__}: {problem}",
            ) from exc

    def _decode_event(self, text: str) -> dict[str, Any]:
        try:
            return _event(text)
        except (ValueError, TypeError) as exc:
            raise UnexpectedResponseError(
                f"{self.url.rstrip('/')}/v1/events",
                f"an event's data is not a JSON object: {text[:80]!r}",
            ) from exc

    def status(self) -> ServiceStatus:
        """``GET /v1/status``."""
        response = self._request("GET", "/v1/status")
        return self._decode(response, ServiceStatus.model_validate)

    def trainers(self) -> TrainerList:
        """``GET /v1/trainers``."""
        response = self._request("GET", "/v1/trainers")
        return self._decode(response, TrainerList.model_validate)

    def trainer(self, name: str) -> TrainerDetail:
        """``GET /v1/trainers/{name}``: status, metric history, run records."""
        response = self._request("GET", f"/v1/trainers/{quote(name, safe='')}")
        return self._decode(response, TrainerDetail.model_validate)

    def pause(self, timeout: float = 30.0) -> ServiceState:
        """``POST /v1/pause``: the state once paused.

        :raises RequestError: 409 when runs are still going after ``timeout``.
        """
        response = self._request(
            "POST",
            "/v1/pause",
            params={"timeout": timeout},
            timeout=self._timeout + timeout,
        )
        return self._decode(response, lambda body: ServiceState(body["state"]))

    def resume(self) -> ServiceState:
        """``POST /v1/resume``: the state once resumed."""
        response = self._request("POST", "/v1/resume")
        return self._decode(response, lambda body: ServiceState(body["state"]))

    def save(self) -> str:
        """``POST /v1/save``: the checkpoint's path, once it is on disk."""
        response = self._request("POST", "/v1/save", timeout=None)
        return self._decode(response, lambda body: str(body["path"]))

    def shutdown(self) -> ServiceState:
        """``POST /v1/shutdown``: the service begins to stop."""
        response = self._request("POST", "/v1/shutdown")
        return self._decode(response, lambda body: ServiceState(body["state"]))

    def ingest(
        self, buffer: str, items: Sequence[Any], *, msgpack: bool = False
    ) -> IngestResult:
        """``POST /v1/data/{buffer}``: collect ``items`` there.

        :param msgpack: send msgpack instead of JSON (smaller, faster, and it
            carries bytes).
        """
        path = f"/v1/data/{quote(buffer, safe='')}"
        if msgpack:
            response = self._request(
                "POST",
                path,
                content=_packb({"items": list(items)}),
                headers={"Content-Type": "application/msgpack"},
            )
        else:
            response = self._request("POST", path, json={"items": list(items)})
        return self._decode(response, IngestResult.model_validate)

    def events(self) -> Iterator[dict[str, Any]]:
        """``GET /v1/events``: each event as a dict, until the server ends the
        stream (when the service begins to stop)."""
        try:
            with self._http.stream("GET", "/v1/events", timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    raise RequestError(response.status_code, _message(response))
                media = response.headers.get("content-type", "").split(";")[0]
                if media.strip() != "text/event-stream":
                    raise UnexpectedResponseError(
                        f"{self.url.rstrip('/')}/v1/events",
                        f"content type {media!r}, not text/event-stream",
                    )
                data: list[str] = []
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        yield self._decode_event("\n".join(data))
                        data = []
        except httpx.TransportError as exc:
            raise ServerUnreachableError(f"cannot reach {self.url}: {exc}") from exc


def _event(text: str) -> dict[str, Any]:
    event = json.loads(text)
    if not isinstance(event, dict):
        raise TypeError(f"an event is a JSON object, got {type(event).__name__}")
    return event


def _packb(document: object) -> bytes:
    packed: bytes = msgpack.packb(document, use_bin_type=True)
    return packed
