"""Every endpoint of the control API, against a real uvicorn server on loopback."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgpack
import pytest
from api_harness import logging_service, served
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from aiotrainer import PauseTimeoutError
from aiotrainer.api import create_app
from aiotrainer.api.app import _pause_timeout_message
from helpers import (
    DEADLINE,
    CountingModel,
    InstrumentedTrainer,
    Journal,
    block_on,
    make_service,
    wait_thread_event,
)


class SlowOnPaused(InstrumentedTrainer):
    """A trainer whose ``on_paused()`` takes 0.3 s (e.g. moving a model off the
    GPU): longer than the pause timeouts the tests give."""

    def on_paused(self) -> None:
        super().on_paused()
        time.sleep(0.3)


class SlowSaveModel(CountingModel):
    """A model whose ``save_state`` takes 0.5 s (a big model): a save's capture
    holds the trainers still that long."""

    def __init__(self) -> None:
        super().__init__()
        self.saving = threading.Event()

    def save_state(self, path: Path) -> None:
        self.saving.set()
        time.sleep(0.5)
        path.with_suffix(".txt").write_text(str(self.version))


async def post_body(
    content: bytes, content_type: str, **app_kwargs: Any
) -> tuple[httpx.Response, int]:
    """POST a raw body to ``/v1/data/buf`` of a fresh service; return the answer
    and how many items the buffer's collector took."""
    async with logging_service() as service, served(service, **app_kwargs) as api:
        response = await api.client.post(
            "/v1/data/buf", content=content, headers={"Content-Type": content_type}
        )
        return response, service.data_users["buf"].collector.collected


async def wait_for_run(client: httpx.AsyncClient, runs: int = 1) -> dict[str, Any]:
    """Feed the buffer until the trainer has trained ``runs`` times (via events)."""
    async with client.stream("GET", "/v1/events") as stream:
        with anyio.fail_after(DEADLINE):
            lines = stream.aiter_lines()
            assert await anext(lines) == ": aiotrainer events"  # subscribed
            response = await client.post("/v1/data/buf", json={"items": [1]})
            assert response.status_code == 200
            async for line in lines:
                if line == "event: metrics":
                    break
    return (await client.get("/v1/trainers/t")).json()


class TestInspection:
    async def test_health_and_readiness(self) -> None:
        async with logging_service() as service, served(service) as api:
            assert (await api.client.get("/healthz")).json() == {"status": "ok"}
            ready = await api.client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"ready": True, "state": "running"}

    async def test_status_and_trainers_show_metrics_non_finite_as_strings(self) -> None:
        async with logging_service() as service, served(service) as api:
            detail = await wait_for_run(api.client)
            status = (await api.client.get("/v1/status")).json()
            listing = (await api.client.get("/v1/trainers")).json()
        expected = {"loss": 0.25, "nan": "nan", "inf": "inf"}
        assert status["state"] == "running"
        assert status["trainers"]["t"]["metrics"] == expected
        assert listing["trainers"]["t"]["metrics"] == expected
        assert detail["name"] == "t" and detail["status"]["runs"] == 1
        assert detail["history"][0]["values"] == expected
        assert detail["history"][0]["run"] == 1
        (run,) = detail["runs"]
        assert run["outcome"] == "trained" and run["new_items"] == {"buf": 1}

    async def test_unknown_trainer_is_a_json_404_naming_the_known(self) -> None:
        async with logging_service() as service, served(service) as api:
            response = await api.client.get("/v1/trainers/nope")
        assert response.status_code == 404
        assert response.json() == {
            "error": "not_found",
            "message": "no trainer named 'nope'; expected one of: 't'",
        }

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [("GET", "/v2/nothing", 404), ("DELETE", "/v1/status", 405)],
        ids=["unknown-path", "wrong-method"],
    )
    async def test_routing_errors_are_json(
        self, method: str, path: str, status: int
    ) -> None:
        async with logging_service() as service, served(service) as api:
            response = await api.client.request(method, path)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"error", "message"}

    async def test_prometheus_metrics(self, tmp_path: Path) -> None:
        service = logging_service(state_dir=tmp_path)
        async with service, served(service) as api:
            await wait_for_run(api.client)
            assert (await api.client.post("/v1/save")).status_code == 200
            response = await api.client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }
        assert samples["aiotrainer_trainer_runs_total", (("trainer", "t"),)] == 1
        assert samples["aiotrainer_trainer_failures_total", (("trainer", "t"),)] == 0
        assert (
            samples["aiotrainer_run_duration_seconds_count", (("trainer", "t"),)] == 1
        )
        metric = "aiotrainer_trainer_metric"
        assert samples[metric, (("metric", "loss"), ("trainer", "t"))] == 0.25
        assert math.isnan(samples[metric, (("metric", "nan"), ("trainer", "t"))])
        assert samples["aiotrainer_buffer_size", (("buffer", "buf"),)] == 1
        assert samples["aiotrainer_items_collected_total", (("buffer", "buf"),)] == 1
        assert samples["aiotrainer_items_lost_total", (("buffer", "buf"),)] == 0
        assert samples["aiotrainer_items_evicted_total", (("buffer", "buf"),)] == 0
        assert samples["aiotrainer_paused", ()] == 0
        assert samples["aiotrainer_workers_in_use", ()] == 0
        helps = {
            family.name: family.documentation
            for family in text_string_to_metric_families(response.text)
        }
        assert helps["aiotrainer_workers_in_use"] == (
            "Runs in flight, parked ones included; workers waiting in place for "
            "their trainer's next data are not counted."
        )
        assert 0 <= samples["aiotrainer_seconds_since_checkpoint", ()] < 60

    async def test_two_apps_keep_their_own_registries(self) -> None:
        first, second = logging_service(), logging_service()
        async with first, second, served(first) as a, served(second) as b:
            await wait_for_run(a.client)
            text_a = (await a.client.get("/metrics")).text
            text_b = (await b.client.get("/metrics")).text
        assert 'aiotrainer_trainer_runs_total{trainer="t"} 1.0' in text_a
        assert 'aiotrainer_trainer_runs_total{trainer="t"} 0.0' in text_b


class TestControl:
    async def test_pause_resume_save_shutdown(self, tmp_path: Path) -> None:
        service = logging_service(state_dir=tmp_path)
        async with service, served(service) as api:
            paused = await api.client.post("/v1/pause", params={"timeout": 5})
            assert paused.json() == {"state": "paused"}
            assert service.state == "paused"
            again = await api.client.post("/v1/pause")
            assert again.json() == {"state": "paused"}  # idempotent
            assert (await api.client.get("/metrics")).text.count(
                "aiotrainer_paused 1.0"
            )
            resumed = await api.client.post("/v1/resume")
            assert resumed.json() == {"state": "running"}
            saved = await api.client.post("/v1/save")
            assert saved.status_code == 200
            path = Path(saved.json()["path"])
            assert path.parent == tmp_path
            assert path.name in {c.name for c in service.store.list()}
            down = await api.client.post("/v1/shutdown")
            assert down.status_code == 202 and down.json() == {"state": "stopping"}
            with anyio.fail_after(DEADLINE):
                await service.stop()
            assert service.state == "stopped"
            ready = await api.client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {"ready": False, "state": "stopped"}
            assert (await api.client.post("/v1/shutdown")).json() == {
                "state": "stopped"
            }

    async def test_pause_that_times_out_is_409_naming_the_running_trainer(self) -> None:
        release = threading.Event()
        journal = Journal()
        trainer = InstrumentedTrainer("slow", journal, body=block_on(release))
        try:
            async with make_service(trainer) as service, served(service) as api:
                await journal.wait_count("slow", "blocking", 1)
                response = await api.client.post("/v1/pause", params={"timeout": 0.2})
                assert response.status_code == 409
                assert response.json()["message"] == (
                    "pause did not take effect within 0.2 s; still running: slow; "
                    "the service was left running"
                )
                assert service.state == "running"
                release.set()
        finally:
            release.set()

    def test_a_pause_timeout_with_no_run_left_says_so(self) -> None:
        # A run that ends between the bound's expiry and the listing, or a
        # worker counted as waiting in place, leaves the list empty: the 409
        # read "still running: ; the service was left running". Such a race
        # cannot be timed from a test: this checks the message it gets.
        exc = PauseTimeoutError(0.2, [])
        assert _pause_timeout_message(0.2, exc) == (
            "pause did not take effect within 0.2 s; still running: none (they "
            "ended meanwhile); the service was left running"
        )
        assert "none (they ended meanwhile)" in str(exc)  # the same wording
        assert _pause_timeout_message(1.5, PauseTimeoutError(1.5, ["a", "b"])) == (
            "pause did not take effect within 1.5 s; still running: a, b; "
            "the service was left running"
        )

    async def test_a_pause_queued_behind_a_save_is_never_self_contradictory(
        self, tmp_path: Path
    ) -> None:
        # The timeout used to bound the whole pause: queued behind a save's
        # capture (no run in flight), it ran out and answered 409 "still
        # running: none".
        journal = Journal()
        trainer = InstrumentedTrainer("t", journal, user="buf", min_buffer_size=1)
        model = SlowSaveModel()
        service = make_service(trainer, models={"m": model}, state_dir=tmp_path)
        async with service, served(service) as api, anyio.create_task_group() as tg:
            tg.start_soon(service.save_state)
            await wait_thread_event(model.saving)
            response = await api.client.post("/v1/pause", params={"timeout": 0.05})
            assert response.status_code == 200, response.json()
            assert response.json() == {"state": "paused"}
            assert service.state == "paused"

    async def test_a_pause_whose_hooks_outlast_the_timeout_took_effect(
        self,
    ) -> None:
        # The timeout used to bound the whole pause, on_paused() hooks included:
        # with every run already ended, a slow hook made it a 409 saying "still
        # running: none", and the pause was undone.
        journal = Journal()
        trainer = SlowOnPaused("t", journal, user="buf", min_buffer_size=1)
        async with make_service(trainer) as service, served(service) as api:
            response = await api.client.post("/v1/pause", params={"timeout": 0.05})
            assert response.status_code == 200, response.json()
            assert response.json() == {"state": "paused"}
            assert service.state == "paused"
            assert journal.count("t", "paused") == 1

    async def test_control_before_start_is_409_and_status_still_answers(
        self, tmp_path: Path
    ) -> None:
        service = logging_service(state_dir=tmp_path)
        async with served(service) as api:
            for path, verb in [
                ("/v1/pause", "pause"),
                ("/v1/resume", "resume"),
                ("/v1/save", "save"),
                ("/v1/shutdown", "shut down"),
            ]:
                response = await api.client.post(path)
                assert response.status_code == 409, path
                assert response.json()["message"].startswith(f"cannot {verb}: ")
            assert (await api.client.get("/v1/status")).json()["state"] == "created"
            assert (await api.client.get("/readyz")).status_code == 503

    async def test_save_without_state_dir_is_409(self) -> None:
        async with logging_service() as service, served(service) as api:
            response = await api.client.post("/v1/save")
        assert response.status_code == 409
        assert "no state_dir" in response.json()["message"]

    @pytest.mark.parametrize(
        "value", ["0", "-1", "nan", "inf", "3601", "soon"], ids=str
    )
    async def test_bad_pause_timeout_is_422(self, value: str) -> None:
        async with logging_service() as service, served(service) as api:
            response = await api.client.post("/v1/pause", params={"timeout": value})
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "unprocessable_entity"
        assert body["details"][0]["loc"] == ["query", "timeout"]
        assert service.state == "stopped"


class Item(BaseModel):
    x: float
    label: str


class TestIngestion:
    async def test_json_and_msgpack_batches_are_collected(self) -> None:
        async with logging_service() as service, served(service) as api:
            data = await api.client.post("/v1/data/buf", json={"items": [1, 2, 3]})
            assert data.json() == {"buffer": "buf", "accepted": 3, "dropped": 0}
            packed = msgpack.packb({"items": [b"raw", {"k": [1.5]}]})
            response = await api.client.post(
                "/v1/data/buf",
                content=packed,
                headers={"Content-Type": "application/msgpack"},
            )
            assert response.json() == {"buffer": "buf", "accepted": 2, "dropped": 0}
            assert service.data_users["buf"].collector.collected == 5

    async def test_dropped_counts_a_full_queue(self) -> None:
        service = logging_service(size=2)  # its queue holds 2 too
        async with service, served(service) as api:
            await api.client.post("/v1/pause")
            response = await api.client.post(
                "/v1/data/buf", json={"items": [1, 2, 3, 4, 5]}
            )
        assert response.json() == {"buffer": "buf", "accepted": 5, "dropped": 3}

    async def test_items_are_checked_against_the_buffer_schema(self) -> None:
        service = logging_service()
        async with service, served(service, item_schemas={"buf": Item}) as api:
            good = await api.client.post(
                "/v1/data/buf", json={"items": [{"x": 1, "label": "a"}]}
            )
            assert good.status_code == 200
            bad = await api.client.post(
                "/v1/data/buf",
                json={"items": [{"x": 1, "label": "a"}, {"x": "no", "label": "b"}]},
            )
            assert bad.status_code == 422
            body = bad.json()
            assert body["message"] == (
                "1 of 2 item(s) do not match the buffer's item schema; "
                "nothing was collected"
            )
            assert body["details"][0]["loc"] == ["body", "items", 1, "x"]
            assert service.data_users["buf"].collector.collected == 1
            # collected as validated (read once no run is in flight)
            assert (await api.client.post("/v1/pause")).status_code == 200
            assert list(service.data_users["buf"].get_data()) == [Item(x=1, label="a")]

    @pytest.mark.parametrize("schema", [None, float], ids=["no-schema", "float"])
    async def test_json_nan_and_infinity_are_refused_naming_where(
        self, schema: type | None
    ) -> None:
        # Python's json reads them; they used to go into the buffer unchecked.
        body = b'{"items": [1.5, NaN, [2, Infinity], {"a": -Infinity}, 3]}'
        schemas = {} if schema is None else {"buf": schema}
        response, collected = await post_body(
            body, "application/json", item_schemas=schemas
        )
        assert collected == 0  # none of it
        assert response.status_code == 422
        answer = response.json()
        assert answer["message"] == (
            "3 value(s) in the body are not finite numbers (NaN, Infinity, "
            "-Infinity, or beyond a 64-bit float's range); expected finite "
            "numbers; nothing was collected"
        )
        assert [(d["loc"], d["msg"]) for d in answer["details"]] == [
            (["body", "items", 1], "NaN is not a standard JSON number"),
            (["body", "items", 2, 1], "Infinity is not a standard JSON number"),
            (["body", "items", 3, "a"], "-Infinity is not a standard JSON number"),
        ]

    @pytest.mark.parametrize("schema", [None, float], ids=["no-schema", "float"])
    async def test_json_numbers_too_large_for_a_float_are_refused_naming_where(
        self, schema: type | None
    ) -> None:
        # Standard JSON, but Python's json reads 1e999 as inf: it used to go
        # into the buffer although NaN and Infinity were refused.
        body = b'{"items": [1e999, [2.5, -1E+400], {"a": 1' + b"0" * 400 + b".0}]}"
        schemas = {} if schema is None else {"buf": schema}
        response, collected = await post_body(
            body, "application/json", item_schemas=schemas
        )
        assert collected == 0  # none of it
        assert response.status_code == 422
        answer = response.json()
        assert answer["message"].startswith("3 value(s) in the body are not finite")
        assert [(d["loc"], d["msg"]) for d in answer["details"]] == [
            (["body", "items", 0], "1e999 is beyond a 64-bit float's range"),
            (["body", "items", 1, 1], "-1E+400 is beyond a 64-bit float's range"),
            (
                ["body", "items", 2, "a"],
                f"1{'0' * 400}.0 is beyond a 64-bit float's range",
            ),
        ]

    async def test_json_numbers_at_a_floats_limits_are_collected(self) -> None:
        # the largest finite float, and one that rounds to zero, are finite
        body = b'{"items": [1.7976931348623157e308, -1e308, 1e-999]}'
        response, collected = await post_body(body, "application/json")
        assert response.status_code == 200, response.json()
        assert collected == 3

    @pytest.mark.parametrize(
        ("value", "msg"),
        [
            (msgpack.ExtType(5, b"abc"), "ext type 5 is not accepted"),
            (msgpack.Timestamp(1, 0), "ext type -1 (a timestamp) is not accepted"),
        ],
        ids=["ext", "timestamp"],
    )
    async def test_msgpack_ext_types_are_refused_naming_where(
        self, value: object, msg: str
    ) -> None:
        # They used to be stored as msgpack.ExtType (or Timestamp) objects.
        body = msgpack.packb({"items": [[0.5, 1.0], {"k": [1, value]}, 2]})
        response, collected = await post_body(body, "application/msgpack")
        assert collected == 0  # none of it
        assert response.status_code == 422
        answer = response.json()
        assert answer["message"] == (
            "1 value(s) in the body are msgpack ext types; expected msgpack "
            "without ext types (nil, bool, int, float, str, bin, array, map); "
            "nothing was collected"
        )
        assert [(d["loc"], d["msg"]) for d in answer["details"]] == [
            (["body", "items", 1, "k", 1], msg)
        ]

    async def test_many_bad_values_are_counted_and_the_first_ten_named(
        self,
    ) -> None:
        body = b'{"items": [' + b", ".join([b"NaN"] * 50) + b"]}"
        response, collected = await post_body(body, "application/json")
        assert collected == 0
        assert response.status_code == 422
        answer = response.json()
        assert answer["message"].startswith("50 value(s) in the body are not")
        assert [d["loc"] for d in answer["details"]] == [
            ["body", "items", i] for i in range(10)
        ]

    async def test_a_bytes_pattern_like_a_timestamp_is_no_timestamp(self) -> None:
        # timestamps' header bytes inside a bin value are data, not an ext type
        body = msgpack.packb({"items": ["text", b"\xd6\xff\xd7\xff\xc7\x0c\xff"]})
        response, collected = await post_body(body, "application/msgpack")
        assert response.status_code == 200, response.json()
        assert collected == 2

    @pytest.mark.parametrize(
        ("content", "content_type", "status", "message"),
        [
            (b"{nope", "application/json", 400, "body is not valid JSON"),
            (
                b"\xc1",
                "application/msgpack",
                400,
                "body is not valid msgpack: a byte that starts no msgpack value",
            ),
            (
                b"\x91" * 100_000,
                "application/msgpack",
                400,
                "body is not valid msgpack: nested too deeply",
            ),
            (
                b'{"items": 3}',
                "application/json",
                422,
                'body must be an object {"items"',
            ),
            (b'{"items": [], "more": 1}', "application/json", 422, "body must be"),
            (b"[1, 2]", "application/json", 422, "body must be an object"),
            (b"x", "text/plain", 415, "content type 'text/plain' is not accepted"),
        ],
        ids=[
            "bad-json",
            "bad-msgpack",
            "deep-msgpack",
            "items-not-list",
            "extra-key",
            "bare-list",
            "text",
        ],
    )
    async def test_bad_bodies_are_refused(
        self, content: bytes, content_type: str, status: int, message: str
    ) -> None:
        async with logging_service() as service, served(service) as api:
            response = await api.client.post(
                "/v1/data/buf", content=content, headers={"Content-Type": content_type}
            )
            assert service.data_users["buf"].collector.collected == 0
        assert response.status_code == status
        assert response.json()["message"].startswith(message)

    async def test_a_stopping_or_stopped_service_refuses_items_with_409(
        self, tmp_path: Path
    ) -> None:
        service = logging_service(state_dir=tmp_path)
        async with service, served(service) as api:
            await service.stop()  # the final checkpoint is written
            response = await api.client.post("/v1/data/buf", json={"items": [1]})
            assert service.data_users["buf"].collector.collected == 0
        assert response.status_code == 409
        assert response.json() == {
            "error": "conflict",
            "message": "cannot collect into 'buf': the service is stopped; items "
            "collected now would not be saved",
        }

    async def test_unknown_buffer_is_404(self) -> None:
        async with logging_service() as service, served(service) as api:
            response = await api.client.post("/v1/data/nope", json={"items": [1]})
        assert response.status_code == 404
        assert response.json()["message"] == (
            "no buffer named 'nope'; expected one of: 'buf'"
        )

    async def test_body_over_the_limit_is_413_announced_or_streamed(self) -> None:
        service = logging_service()
        async with service, served(service, max_body_bytes=64) as api:
            big = {"items": list(range(100))}
            announced = await api.client.post("/v1/data/buf", json=big)
            assert announced.status_code == 413
            assert announced.json()["error"] == "body_too_large"
            assert announced.json()["message"] == (
                f"request body of {len(httpx.Request('POST', '/', json=big).content)} "
                "bytes is over the limit of 64 bytes"
            )

            async def chunks() -> Any:
                for _ in range(10):
                    yield b" " * 16

            streamed = await api.client.post(
                "/v1/data/buf",
                content=chunks(),
                headers={"Content-Type": "application/json"},
            )
            assert streamed.status_code == 413
            assert streamed.json()["error"] == "body_too_large"  # as announced
            assert streamed.json()["message"] == (
                "request body larger than the limit of 64 bytes"
            )
            assert service.data_users["buf"].collector.collected == 0


class TestCreateApp:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"token": ""}, ValueError, "token must be a non-empty str or None"),
            ({"max_body_bytes": 0}, ValueError, "max_body_bytes must be an int >= 1"),
            ({"cors_origins": [""]}, TypeError, "cors_origins must be non-empty"),
            ({"item_schemas": {"x": int}}, ValueError, r"unknown buffer\(s\) \['x'\]"),
            ({"item_schemas": {"buf": object()}}, TypeError, "item_schemas\\['buf'\\]"),
        ],
        ids=[
            "empty-token",
            "zero-limit",
            "empty-origin",
            "unknown-buffer",
            "bad-schema",
        ],
    )
    def test_bad_arguments(
        self, kwargs: dict[str, Any], error: type, match: str
    ) -> None:
        with pytest.raises(error, match=match):
            create_app(logging_service(), **kwargs)

    def test_service_must_be_a_service(self) -> None:
        with pytest.raises(TypeError, match="service must be a TrainerService"):
            create_app(object())  # type: ignore[arg-type]
