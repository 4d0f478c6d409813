"""Loading config files: formats, overrides and their precedence, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiotrainer.config import ConfigError, ServiceConfig, load_config, parse_overrides

DEMO = Path(__file__).parents[2] / "configs" / "demo.yaml"
REFERENCE = Path(__file__).parents[2] / "configs" / "reference.yaml"

MINIMAL = {
    "models": {"linear": {"target": "aiotrainer.demo:LinearModel", "args": {"dim": 3}}},
    "buffers": {
        "samples": {"target": "aiotrainer:SequentialBuffer", "args": {"max_size": 100}}
    },
    "trainers": {
        "sgd": {
            "target": "aiotrainer.demo:LinearRegressionTrainer",
            "models": ["linear"],
            "buffers": ["samples"],
        }
    },
    "state": {"dir": "/tmp/from-file", "keep_last": 2},
}

TOML = """
[models.linear]
target = "aiotrainer.demo:LinearModel"
args = { dim = 3 }

[buffers.samples]
target = "aiotrainer:SequentialBuffer"
args = { max_size = 100 }

[trainers.sgd]
target = "aiotrainer.demo:LinearRegressionTrainer"
models = ["linear"]
buffers = ["samples"]

[state]
dir = "/tmp/from-file"
keep_last = 2
"""

YAML = """
models:
  linear: {target: "aiotrainer.demo:LinearModel", args: {dim: 3}}
buffers:
  samples: {target: "aiotrainer:SequentialBuffer", args: {max_size: 100}}
trainers:
  sgd:
    target: aiotrainer.demo:LinearRegressionTrainer
    models: [linear]
    buffers: [samples]
state:
  dir: /tmp/from-file
  keep_last: 2
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(path: Path | None, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


class TestFormats:
    @pytest.mark.parametrize(
        ("name", "text"),
        [
            ("c.yaml", YAML),
            ("c.yml", YAML),
            ("c.toml", TOML),
            ("c.json", json.dumps(MINIMAL)),
        ],
        ids=["yaml", "yml", "toml", "json"],
    )
    def test_every_format_gives_the_same_config(
        self, tmp_path: Path, name: str, text: str
    ) -> None:
        config = load_config(_write(tmp_path, name, text), environ={})
        assert config == ServiceConfig.model_validate(MINIMAL)
        assert config.state.dir == Path("/tmp/from-file")
        assert config.models["linear"].args == {"dim": 3}

    def test_a_schema_pointer_is_allowed(self, tmp_path: Path) -> None:
        text = json.dumps({"$schema": "./aiotrainer.schema.json", **MINIMAL})
        config = load_config(_write(tmp_path, "c.json", text), environ={})
        assert config == ServiceConfig.model_validate(MINIMAL)

    def test_the_shipped_configs_load(self) -> None:
        demo = load_config(DEMO, environ={})
        assert set(demo.sources) == {"stream"}
        assert demo.run.max_uptime is not None
        reference = load_config(REFERENCE, environ={})
        assert reference.api.host == "127.0.0.1"

    def test_the_reference_config_shows_every_option(self) -> None:
        text = REFERENCE.read_text()

        def keys(model: type, prefix: str = "") -> list[str]:
            out = []
            for name, field in model.model_fields.items():  # type: ignore[attr-defined]
                out.append(name)
                ann = field.annotation
                if isinstance(ann, type) and hasattr(ann, "model_fields"):
                    out += keys(ann)
            return out

        from aiotrainer.config import SourceConfig, TrainerConfig

        missing = [
            k
            for k in keys(ServiceConfig) + keys(TrainerConfig) + keys(SourceConfig)
            if f"{k}:" not in text
        ]
        assert missing == []


class TestPrecedence:
    """defaults < file < AIOTRAINER__* environment < --set"""

    def test_environment_overrides_the_file(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "c.yaml", YAML)
        config = load_config(
            path,
            environ={
                "AIOTRAINER__STATE__DIR": "/tmp/from-env",
                "AIOTRAINER__WORKERS__MAX_WORKERS": "3",
                "AIOTRAINER__MODELS__LINEAR__ARGS__DIM": "5",
                "UNRELATED": "x",
            },
        )
        assert config.state.dir == Path("/tmp/from-env")
        assert config.state.keep_last == 2  # the rest of the section stays
        assert config.workers.max_workers == 3
        assert config.models["linear"].args == {"dim": 5}  # parsed, not "5"
        assert config.models["linear"].target == "aiotrainer.demo:LinearModel"

    def test_set_overrides_the_environment_and_the_file(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "c.yaml", YAML)
        config = load_config(
            path,
            environ={"AIOTRAINER__STATE__DIR": "/tmp/from-env"},
            overrides=["state.dir=/tmp/from-set", "trainers.sgd.args.lr=0.5"],
        )
        assert config.state.dir == Path("/tmp/from-set")
        assert config.trainers["sgd"].args == {"lr": 0.5}

    def test_exponent_floats_are_floats_in_files_env_and_set(
        self, tmp_path: Path
    ) -> None:
        # YAML 1.1 (PyYAML) reads 1e-3 as a string; the trainer then got '1e-3'.
        text = YAML.replace(
            "buffers: [samples]\n", "buffers: [samples]\n    args: {lr: 1e-3}\n", 1
        )
        assert "{lr: 1e-3}" in text
        from_file = load_config(_write(tmp_path, "c.yaml", text), environ={})
        assert from_file.trainers["sgd"].args == {"lr": 0.001}
        config = load_config(
            _write(tmp_path, "c.yaml", YAML),
            environ={"AIOTRAINER__MODELS__LINEAR__ARGS__SCALE": "-2E+4"},
            overrides=["trainers.sgd.args.lr=5e-4", "trainers.sgd.args.tag=1e-3x"],
        )
        assert config.models["linear"].args == {"dim": 3, "scale": -20000.0}
        assert config.trainers["sgd"].args == {"lr": 0.0005, "tag": "1e-3x"}

    def test_without_overrides_the_file_wins_over_defaults(
        self, tmp_path: Path
    ) -> None:
        config = load_config(_write(tmp_path, "c.yaml", YAML), environ={})
        assert config.state.keep_last == 2
        assert config.state.resume == "latest"  # the default

    def test_set_values(self) -> None:
        assert parse_overrides(
            [
                "state.save_interval=null",
                "trainers.t.models=[a, b]",
                "models.m.args.flag=true",
                "state.resume=2026",
            ]
        ) == {
            "state": {"save_interval": None, "resume": "2026"},
            "trainers": {"t": {"models": ["a", "b"]}},
            "models": {"m": {"args": {"flag": True}}},
        }


class TestBadInput:
    def test_missing_file(self, tmp_path: Path) -> None:
        assert _problems(tmp_path / "nope.yaml") == [
            f"{tmp_path / 'nope.yaml'}: no such config file"
        ]

    def test_unknown_extension(self, tmp_path: Path) -> None:
        (problem,) = _problems(_write(tmp_path, "c.ini", "[x]"))
        assert "unknown config file extension" in problem
        assert "(got '.ini')" in problem

    @pytest.mark.parametrize(
        ("name", "text", "expected"),
        [
            (
                "c.yaml",
                "state:\n  dir: /x\n   keep_last: 2\n",
                "invalid YAML at line 3, column 13",
            ),
            ("c.toml", "[state]\ndir = \n", "invalid TOML: Invalid value (at line 2"),
            ("c.json", '{"state": {"dir": }}', "invalid JSON at line 1, column 19"),
        ],
        ids=["yaml", "toml", "json"],
    )
    def test_syntax_errors_give_line_and_column(
        self, tmp_path: Path, name: str, text: str, expected: str
    ) -> None:
        (problem,) = _problems(_write(tmp_path, name, text))
        assert expected in problem

    @pytest.mark.parametrize(
        ("name", "text"),
        [
            ("c.yaml", "a: " + "[" * 5000 + "]" * 5000),
            ("c.json", '{"a": ' + "[" * 5000 + "]" * 5000 + "}"),
            ("c.toml", "a = " + "[" * 5000 + "]" * 5000),
        ],
        ids=["yaml", "json", "toml"],
    )
    def test_deep_nesting_is_a_problem_not_a_crash(
        self, tmp_path: Path, name: str, text: str
    ) -> None:
        (problem,) = _problems(_write(tmp_path, name, text))
        assert problem.endswith(": nested too deeply to read")

    def test_a_yaml_alias_inside_itself_is_read(self, tmp_path: Path) -> None:
        text = YAML.replace("state:\n", "state:\n  loop: &a [*a]\n", 1)
        assert "state:\n  loop:" in text
        (problem,) = _problems(_write(tmp_path, "c.yaml", text))
        assert problem.startswith("state.loop: unknown key")

    def test_duplicate_names(self, tmp_path: Path) -> None:
        text = YAML.replace("buffers:\n", 'buffers:\n  samples: {target: "a:B"}\n', 1)
        (problem,) = _problems(_write(tmp_path, "c.yaml", text))
        assert problem.startswith("buffers.samples: duplicate name at line")
        doubled = json.dumps(MINIMAL).replace(
            '"models": {', '"models": {"linear": {"target": "a:B"}, ', 1
        )
        (problem,) = _problems(_write(tmp_path, "c.json", doubled))
        assert problem == "models.linear: duplicate name (got 'linear')"

    def test_not_a_mapping(self, tmp_path: Path) -> None:
        (problem,) = _problems(_write(tmp_path, "c.yaml", "- a\n- b\n"))
        assert problem.endswith("expected a mapping of sections (got list)")

    def test_every_problem_is_listed_with_its_path(self, tmp_path: Path) -> None:
        text = YAML + (
            "workers:\n  max_workrs: 2\n  shutdown_timeout: -1\n"
            "run:\n  max_runs: many\n"
            "sources:\n  feed: {target: not-a-path}\n"
            "logging: {level: LOUD}\n"
        )
        problems = _problems(_write(tmp_path, "c.yaml", text))
        assert sorted(problems) == sorted(
            [
                (
                    "sources.feed.target: expected an import path 'package.module:Name' "
                    "(got 'not-a-path')"
                ),
                "sources.feed.buffer: required, but missing",
                "workers.max_workrs: unknown key; did you mean 'max_workers'? (got 2)",
                (
                    "workers.shutdown_timeout: input should be greater than or equal to 0 "
                    "(got -1)"
                ),
                (
                    "run.max_runs: input should be a valid integer, unable to parse string "
                    "as an integer (got 'many')"
                ),
                (
                    "logging.level: input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or "
                    "'CRITICAL' (got 'LOUD')"
                ),
            ]
        )

    def test_unknown_top_level_key_suggests_the_nearest(self, tmp_path: Path) -> None:
        (problem,) = _problems(_write(tmp_path, "c.yaml", YAML + "trainer: {}\n"))
        assert problem == "trainer: unknown key; did you mean 'trainers'? (got {})"

    def test_unknown_key_far_from_all_lists_them(self, tmp_path: Path) -> None:
        (problem,) = _problems(_write(tmp_path, "c.yaml", "state: {zzz: 1}\n"))
        assert problem.startswith("state.zzz: unknown key; expected one of: dir, ")

    def test_references_to_missing_components(self, tmp_path: Path) -> None:
        text = YAML.replace("buffers: [samples]", "buffers: [sample]") + (
            "sources:\n  feed: {target: 'a:B', buffer: nope}\n"
        )
        assert _problems(_write(tmp_path, "c.yaml", text)) == [
            (
                "trainers.sgd.buffers.0: no buffer named 'sample'; expected one of: "
                "'samples' (got 'sample')"
            ),
            (
                "sources.feed.buffer: no buffer named 'nope'; expected one of: "
                "'samples' (got 'nope')"
            ),
        ]

    def test_bad_component_name(self, tmp_path: Path) -> None:
        (problem,) = _problems(
            _write(tmp_path, "c.yaml", "models:\n  ../up: {target: 'a:B'}\n")
        )
        assert problem.startswith("models: a component name names its directory")
        assert "(got '../up')" in problem

    def test_bad_environment_value_names_the_field(self, tmp_path: Path) -> None:
        (problem,) = _problems(
            _write(tmp_path, "c.yaml", YAML),
            environ={"AIOTRAINER__WORKERS__MAX_WORKERS": "zero"},
        )
        assert problem.startswith("workers.max_workers: input should be a valid int")
        assert problem.endswith("(got 'zero')")

    def test_misspelt_environment_section(self) -> None:
        # the value is left out: it may be a secret (AIOTRAINER__AP__TOKEN)
        (problem,) = _problems(None, environ={"AIOTRAINER__STAT__DIR": "/x"})
        assert problem == (
            "AIOTRAINER__STAT__DIR: unknown section 'stat'; did you mean 'state'?"
        )

    def test_undecodable_environment_value(self) -> None:
        # what is wrong and where, not the value: it may hold a secret
        (problem,) = _problems(None, environ={"AIOTRAINER__API": '{"token": "s3cret"'})
        assert problem == (
            "AIOTRAINER__API: expected a JSON object for the whole section, or "
            "one variable a key (AIOTRAINER__API__<KEY>) (got text that is not "
            "JSON: expecting ',' delimiter at column 19)"
        )

    @pytest.mark.parametrize(
        ("environ", "expected"),
        [
            (
                {"AIOTRAINER__STATE__DIR": "/x", "AIOTRAINER__STATE__DIR__X": "1"},
                (
                    "state.dir: set by both AIOTRAINER__STATE__DIR and "
                    "AIOTRAINER__STATE__DIR__X; set it once"
                ),
            ),
            (
                {"AIOTRAINER__STATE": '{"dir": "/a"}', "AIOTRAINER__STATE__DIR": "/b"},
                (
                    "state.dir: set by both AIOTRAINER__STATE and "
                    "AIOTRAINER__STATE__DIR; set it once"
                ),
            ),
            (
                # pydantic-settings matches a section's field names in any case
                {"AIOTRAINER__STATE": '{"DIR": "/a"}', "AIOTRAINER__STATE__DIR": "/b"},
                (
                    "state.dir: set by both AIOTRAINER__STATE and "
                    "AIOTRAINER__STATE__DIR; set it once"
                ),
            ),
            (
                {
                    "AIOTRAINER__TRAINERS__SGD__ARGS": '{"lr": 1}',
                    "AIOTRAINER__TRAINERS__SGD__ARGS__LR": "2",
                },
                (
                    "trainers.sgd.args.lr: set by both "
                    "AIOTRAINER__TRAINERS__SGD__ARGS and "
                    "AIOTRAINER__TRAINERS__SGD__ARGS__LR; set it once"
                ),
            ),
            (
                {"AIOTRAINER__STATE__DIR": "/x", "aiotrainer__state__dir": "/y"},
                (
                    "state.dir: set by both AIOTRAINER__STATE__DIR and "
                    "aiotrainer__state__dir; set it once"
                ),
            ),
        ],
        ids=[
            "key-and-inner-key",
            "section-json-and-key",
            "section-json-other-case",
            "args-json-and-key",
            "case",
        ],
    )
    def test_conflicting_environment_variables_are_refused(
        self, environ: dict[str, str], expected: str
    ) -> None:
        # pydantic-settings merged them: one of the two was silently dropped.
        (problem,) = _problems(None, environ=environ)
        assert problem == expected

    @pytest.mark.parametrize(
        "environ",
        [
            {"AIOTRAINER__API": '{"token": "s3cret"}', "AIOTRAINER__API__TOKEN": "s3"},
            {"AIOTRAINER__API__TOKEN": "s3cret", "aiotrainer__api__token": "s3cret"},
        ],
        ids=["section-json-and-key", "case"],
    )
    def test_a_conflict_does_not_print_the_values(
        self, environ: dict[str, str]
    ) -> None:
        (problem,) = _problems(None, environ=environ)
        assert problem.startswith("api.token: set by both ")
        assert "s3" not in problem

    def test_keys_of_a_named_map_keep_their_case(self) -> None:
        # pydantic-settings keeps the case of a name under models/trainers/...
        # given in JSON, and lowers the one from a variable's name: SGD and sgd
        # are two trainers, not one set twice.
        config = load_config(
            None,
            environ={
                "AIOTRAINER__TRAINERS": '{"SGD": {"target": "a:B"}}',
                "AIOTRAINER__TRAINERS__SGD__TARGET": "c:D",
            },
        )
        assert {name: t.target for name, t in config.trainers.items()} == {
            "SGD": "a:B",
            "sgd": "c:D",
        }

    def test_environment_variables_setting_distinct_keys_merge(self) -> None:
        config = load_config(
            None,
            environ={
                "AIOTRAINER__STATE": '{"save_interval": 5}',
                "AIOTRAINER__STATE__DIR": "/b",
            },
        )
        assert (config.state.save_interval, str(config.state.dir)) == (5, "/b")

    @pytest.mark.parametrize(
        "item", ["state.dir", "=x", "state..dir=x"], ids=["no-equals", "no-key", "gap"]
    )
    def test_bad_set(self, item: str) -> None:
        (problem,) = _problems(None, overrides=[item], environ={})
        assert problem == (
            f"--set: expected key.path=value, e.g. state.dir=/tmp/x (got {item!r})"
        )

    def test_save_interval_without_dir(self) -> None:
        (problem,) = _problems(None, overrides=["state.save_interval=5"], environ={})
        assert (
            problem
            == "state: save_interval needs state.dir (got save_interval=5.0 and no dir)"
        )

    def test_api_token_sources_are_exclusive(self) -> None:
        (problem,) = _problems(
            None, overrides=["api.token=x", "api.token_env=TOKEN"], environ={}
        )
        assert problem.startswith("api: give at most one of token, token_env")


class TestApiToken:
    def test_from_each_source(self, tmp_path: Path) -> None:
        (tmp_path / "token").write_text("from-file\n")
        assert (
            load_config(overrides=["api.token=inline"], environ={}).api.resolve_token()
            == "inline"
        )
        by_env = load_config(overrides=["api.token_env=MY_TOKEN"], environ={})
        assert by_env.api.resolve_token({"MY_TOKEN": "from-env"}) == "from-env"
        by_file = load_config(
            overrides=[f"api.token_file={tmp_path / 'token'}"], environ={}
        )
        assert by_file.api.resolve_token() == "from-file"
        assert load_config(environ={}).api.resolve_token() is None

    def test_inline_token_is_not_shown(self) -> None:
        config = load_config(overrides=["api.token=s3cret"], environ={})
        assert "s3cret" not in repr(config)

    def test_blank_tokens_are_refused_before_the_server_is_built(self) -> None:
        # create_app refuses a blank token: it used to pass validate, then crash
        # 'aiotrainer run' with a ValueError traceback once the service had started.
        inline = load_config(overrides=["api.token= "], environ={})
        with pytest.raises(ConfigError) as info:
            inline.api.resolve_token()
        assert info.value.problems == ["api.token: the token is empty (got ' ')"]
        by_env = load_config(overrides=["api.token_env=MY_TOKEN"], environ={})
        with pytest.raises(ConfigError, match="api.token_env: the environment var"):
            by_env.api.resolve_token({"MY_TOKEN": "  "})

    def test_missing_sources_are_named(self, tmp_path: Path) -> None:
        by_env = load_config(overrides=["api.token_env=MY_TOKEN"], environ={})
        with pytest.raises(ConfigError) as info:
            by_env.api.resolve_token({})
        assert info.value.problems == [
            (
                "api.token_env: the environment variable is not set or empty "
                "(got 'MY_TOKEN')"
            )
        ]
        (tmp_path / "empty").write_text("\n")
        for name, problem in (
            ("missing", "cannot read it"),
            ("empty", "the file is empty"),
        ):
            config = load_config(
                overrides=[f"api.token_file={tmp_path / name}"], environ={}
            )
            with pytest.raises(ConfigError, match=f"api.token_file: {problem}"):
                config.api.resolve_token()
