"""The documentation cannot rot: its examples run, its reference is complete.

Every fenced code block in README.md and docs/**/*.md is checked, by its language:

- ``python``: run in a fresh interpreter, and it must exit 0. Its working
  directory is a temporary one in which ``configs/`` and ``examples/`` link to
  the repository's, so relative paths to them work and nothing is left behind. A block that only includes files (``--8<-- "examples/x.py"``), or that
  is an examples/ file verbatim (the README cannot include), is run by
  ``test_example_runs`` instead.
- ``yaml``, ``toml``, ``json``: parsed.
- ``console`` (``$ `` prompts), ``bash``, ``sh``, ``shell``: every ``make`` target
  must exist, every ``aiotrainer`` subcommand and ``--option`` must be in its
  ``--help``, every ``python -m module`` must be importable and every
  ``python file.py`` must exist.
- ``text``: output or layouts, shown as is.

A block may be marked on the line just above its fence:

- ``<!-- docs-test: skip: <why> -->`` leaves it out (the reason is required);
- ``<!-- docs-test: continue -->`` runs it after the page's python blocks before
  it (back to the first one not so marked), for a guide that builds up a program.

Pages added to docs/ are picked up without any change here.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

import aiotrainer

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
REFERENCE = DOCS / "reference"

PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]

SHARED_DIRS = ("configs", "examples")

RUN = {"python", "py"}
PARSE = {"yaml", "yml", "toml", "json"}
SHELL = {"console", "bash", "sh", "shell"}
SHOWN = {"text"}

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+-]*)[^\n]*\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
MARKER = re.compile(
    r"<!--\s*docs-test:\s*(?P<verb>skip|continue)(?::\s*(?P<why>.*?))?\s*-->"
)
SNIPPET = re.compile(r'^\s*--8<--\s+"(?P<path>[^"]+)"\s*$')
DIRECTIVE = re.compile(r"^:::\s+(?P<path>[\w.]+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int
    lang: str
    body: str
    marker: str | None
    reason: str | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    out = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        indent = len(match["indent"])
        body = "\n".join(
            row[indent:] if row[:indent].strip() == "" else row
            for row in match["body"].split("\n")
        )
        above = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        marker = MARKER.search(above)
        out.append(
            Block(
                page=page,
                line=line,
                lang=match["lang"].lower(),
                body=body,
                marker=marker["verb"] if marker else None,
                reason=(marker["why"] or "").strip() or None if marker else None,
            )
        )
    return out


BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _example_body(path: Path) -> str:
    """An example file without its module docstring (what the README shows)."""
    source = path.read_text(encoding="utf-8")
    if source.startswith('"""'):
        source = source.split('"""', 2)[2]
    return source.strip()


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))
EXAMPLE_BODIES = {_example_body(p): p for p in EXAMPLE_FILES}


def _included(block: Block) -> list[Path] | None:
    """The files a block includes, if it is made only of snippet lines."""
    rows = [r for r in block.body.strip().split("\n") if r.strip()]
    matches = [SNIPPET.match(r) for r in rows]
    if not rows or not all(matches):
        return None
    return [ROOT / m["path"] for m in matches if m]


def _program(block: Block, blocks: list[Block]) -> str:
    """The block's source, after the blocks of its page that it continues."""
    page = [b for b in blocks if b.page == block.page and b.lang in RUN]
    chain = [block]
    index = page.index(block)
    while chain[0].marker == "continue" and index > 0:
        index -= 1
        chain.insert(0, page[index])
    return "\n\n".join(b.body for b in chain)


def _by_lang(*langs: set[str]) -> list[Block]:
    wanted = set().union(*langs)
    return [b for b in BLOCKS if b.lang in wanted and b.marker != "skip"]


# -- every block is checked ------------------------------------------------------


def test_pages_are_found() -> None:
    assert ROOT / "README.md" in PAGES
    assert DOCS / "getting-started.md" in PAGES
    assert _by_lang(RUN), "no python block found: the extraction is broken"


def test_extraction_sees_markers_indented_blocks_and_snippets(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n"
        "```python\nx = 1\n```\n\n"
        "<!-- docs-test: continue -->\n"
        "```python\nassert x == 1\n```\n\n"
        "1. In a list:\n\n"
        "    ```yaml\n    a: 1\n    ```\n\n"
        "<!-- docs-test: skip: needs a GPU -->\n"
        "````text\n```python\nnot a block\n```\n````\n\n"
        '```python\n--8<-- "examples/quickstart.py"\n```\n',
        encoding="utf-8",
    )
    blocks = _blocks(page)
    assert [(b.lang, b.marker, b.reason) for b in blocks] == [
        ("python", None, None),
        ("python", "continue", None),
        ("yaml", None, None),
        ("text", "skip", "needs a GPU"),
        ("python", None, None),
    ]
    assert blocks[2].body == "a: 1\n"  # dedented
    assert "not a block" in blocks[3].body  # a longer fence holds a shorter one
    assert _included(blocks[4]) == [ROOT / "examples" / "quickstart.py"]
    assert _included(blocks[0]) is None
    assert _program(blocks[0], blocks) == "x = 1\n"
    assert _program(blocks[1], blocks) == "x = 1\n\n\nassert x == 1\n"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_block_has_a_checked_language_or_a_reason(block: Block) -> None:
    if block.marker == "skip":
        assert block.reason, (
            f"{block.id}: a skipped block must say why: <!-- docs-test: skip: <why> -->"
        )
        return
    known = RUN | PARSE | SHELL | SHOWN
    assert block.lang in known, (
        f"{block.id}: a ```{block.lang or '(no language)'} block is not checked; "
        f"use one of {sorted(known)}, or mark it <!-- docs-test: skip: <why> -->"
    )


@pytest.mark.timeout(90)
@pytest.mark.parametrize("block", _by_lang(RUN), ids=lambda b: b.id)
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    included = _included(block)
    if included is not None:
        for path in included:
            assert path.is_file(), f"{block.id} includes {path}, which is missing"
            assert path in EXAMPLE_FILES, (
                f"{block.id} includes {path}: include only examples/*.py, "
                "which test_example_runs runs"
            )
        return
    if block.body.strip() in EXAMPLE_BODIES:
        return  # an examples/ file verbatim: test_example_runs runs it
    for shared in SHARED_DIRS:
        if (ROOT / shared).is_dir():
            (tmp_path / shared).symlink_to(ROOT / shared)
    done = subprocess.run(
        [sys.executable, "-c", _program(block, BLOCKS)],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=80,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert done.returncode == 0, (
        f"{block.id} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
    )


@pytest.mark.parametrize("block", _by_lang(PARSE), ids=lambda b: b.id)
def test_data_block_parses(block: Block) -> None:
    if block.lang in ("yaml", "yml"):
        yaml.safe_load(block.body)
    elif block.lang == "toml":
        tomllib.loads(block.body)
    else:
        json.loads(block.body)


def _commands(block: Block) -> list[list[str]]:
    rows = block.body.split("\n")
    if block.lang == "console":
        rows = [r[2:] for r in rows if r.startswith("$ ")]
    out = []
    for row in rows:
        row = row.split(" #", 1)[0].strip()
        if row and not row.startswith("#"):
            out.append(shlex.split(row))
    return out


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w.-]+):", text, re.MULTILINE))


@pytest.mark.parametrize("block", _by_lang(SHELL), ids=lambda b: b.id)
def test_shell_block_names_real_commands(block: Block) -> None:
    cli = Path(sys.executable).with_name("aiotrainer")
    for argv in _commands(block):
        if argv[0] == "make":
            missing = set(argv[1:]) - _make_targets()
            assert not missing, f"{block.id}: no make target {sorted(missing)}"
        elif argv[0] == "aiotrainer":
            words = [a for a in argv[1:] if not a.startswith("-")]
            command = words[:1]  # the subcommand
            done = subprocess.run(
                [str(cli), *command, "--help"],
                check=False,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 0, f"{block.id}: {argv}: {done.stderr}"
            for option in (a.split("=", 1)[0] for a in argv if a.startswith("--")):
                assert option in done.stdout, (
                    f"{block.id}: {argv}: {option} is not in "
                    f"'aiotrainer {' '.join(command)} --help'"
                )
        elif argv[0] == "python" and len(argv) > 1 and argv[1].endswith(".py"):
            assert (ROOT / argv[1]).is_file(), f"{block.id}: no file {argv[1]}"
        elif argv[:2] == ["python", "-m"] and len(argv) > 2:
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"import importlib.util as u; assert u.find_spec({argv[2]!r})",
                ],
                check=False,
                capture_output=True,
                timeout=30,
            )
            assert done.returncode == 0, f"{block.id}: no module {argv[2]}"


# -- the examples/ files ---------------------------------------------------------


def _wait_for_line(proc: subprocess.Popen[bytes], text: str, timeout: float) -> str:
    """Read the process's stdout (unbuffered) until it contains ``text``."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    while text.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"no {text!r} within {timeout} s; got {seen!r}"
        chunk = os.read(fd, 65536)
        assert chunk, f"the process ended before {text!r}; got {seen!r}"
        seen += chunk
    return seen.decode()


def _run_quickstart(path: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    runs = int(re.search(r"runs: (\d+)", out).group(1))  # type: ignore[union-attr]
    centred = float(re.search(r"centres 5.0 to (\S+)", out).group(1))  # type: ignore[union-attr]
    assert runs >= 10
    assert abs(centred) < 0.5
    assert "state: stopped" in out


def _stop_with(path: Path, state_dir: Path, signum: int) -> str:
    proc = subprocess.Popen(
        [sys.executable, str(path), str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out = _wait_for_line(proc, "stop with Ctrl-C", 30)
        proc.send_signal(signum)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"exit {proc.returncode}: {err.decode()}"
    return out + rest.decode()


def _run_graceful_shutdown(path: Path, tmp_path: Path) -> None:
    state_dir = tmp_path / "checkpoints"
    first = _stop_with(path, state_dir, signal.SIGTERM)
    assert "got SIGTERM" in first
    final = Path(re.search(r"final checkpoint: (\S+)", first).group(1))  # type: ignore[union-attr]
    assert (final / "manifest.json").is_file()
    assert (final / "models" / "linear.json").is_file()  # the weights are in it
    second = _stop_with(path, state_dir, signal.SIGINT)
    assert f"resumed from {final}" in second
    assert "got SIGINT" in second


def _run_torch_demo(path: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch.nn", reason="the torch extra is not installed")
    out = subprocess.run(
        [sys.executable, str(path), "--seconds", "6", "--reports", "3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    errors = [float(e) for e in re.findall(r"agent error\s+([0-9.]+)", out)]
    assert len(errors) == 5, out  # untrained, 3 reports, final
    assert errors[-1] < errors[0] * 0.8, out  # the agent's error falls
    assert int(re.findall(r"agent calls=(\d+)", out)[-1]) > 0, out
    assert "service stopped" in out


DRIVERS = {
    "quickstart.py": _run_quickstart,
    "graceful_shutdown.py": _run_graceful_shutdown,
    "torch_demo.py": _run_torch_demo,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_runs(path: Path, tmp_path: Path) -> None:
    driver = DRIVERS.get(path.name)
    if driver is not None:
        driver(path, tmp_path)
        return
    subprocess.run([sys.executable, str(path)], cwd=tmp_path, check=True, timeout=60)


def test_readme_quickstart_is_the_example_file() -> None:
    """The README says its first example is examples/quickstart.py: keep it so."""
    first = next(b for b in BLOCKS if b.page.name == "README.md" and b.lang in RUN)
    assert first.body.strip() == _example_body(EXAMPLES / "quickstart.py")


def test_every_example_is_shown_somewhere() -> None:
    shown = set()
    for block in _by_lang(RUN):
        shown.update(_included(block) or ())
        if block.body.strip() in EXAMPLE_BODIES:
            shown.add(EXAMPLE_BODIES[block.body.strip()])
    assert set(EXAMPLE_FILES) <= shown, sorted(
        str(p.relative_to(ROOT)) for p in set(EXAMPLE_FILES) - shown
    )


# -- the API reference -----------------------------------------------------------

PUBLIC = [n for n in aiotrainer.__all__ if n != "__version__"]


def _reference_directives() -> set[str]:
    found = set()
    for page in REFERENCE.rglob("*.md"):
        found.update(DIRECTIVE.findall(page.read_text(encoding="utf-8")))
    return found


def test_every_public_name_is_in_the_reference() -> None:
    listed = _reference_directives()
    missing = [n for n in PUBLIC if f"aiotrainer.{n}" not in listed]
    assert not missing, (
        f"add '::: aiotrainer.<name>' for these to a page of docs/reference/: {missing}"
    )


def _resolve(dotted: str) -> object:
    """Import ``a.b.C`` (a module path, then attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            obj: object = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module.startswith(exc.name):
                continue  # not a module: a shorter path is
            raise
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_reference_directive_resolves_to_a_documented_object() -> None:
    broken = []
    for path in sorted(_reference_directives()):
        try:
            obj = _resolve(path)
        except ModuleNotFoundError as exc:
            if exc.name and not exc.name.startswith("aiotrainer"):
                continue  # an optional dependency (torch) is not installed here
            broken.append(f"{path}: {exc}")
            continue
        except (ImportError, AttributeError) as exc:
            broken.append(f"{path}: {exc}")
            continue
        if not (_own_doc(obj) or "").strip():
            broken.append(f"{path}: no docstring")
    assert not broken, broken


def _own_doc(obj: object) -> str | None:
    if isinstance(obj, type):
        doc = vars(obj).get("__doc__")
        if dataclasses.is_dataclass(obj) and doc and doc.startswith(obj.__name__ + "("):
            return None  # the signature dataclass() writes when there is none
        return doc
    return getattr(obj, "__doc__", None)


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_has_a_docstring(name: str) -> None:
    doc = _own_doc(getattr(aiotrainer, name))
    assert doc and doc.strip(), f"aiotrainer.{name} has no docstring of its own"


def _fields(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    if issubclass(cls, BaseModel):
        return list(cls.model_fields)
    if issubclass(cls, enum.Enum):
        return list(cls.__members__)
    return []


RECORDS = [
    n
    for n in PUBLIC
    if isinstance(getattr(aiotrainer, n), type) and _fields(getattr(aiotrainer, n))
]


@pytest.fixture(scope="module")
def griffe_package():  # type: ignore[no-untyped-def]
    griffe = pytest.importorskip("griffe")
    return griffe.load("aiotrainer", search_paths=[str(ROOT / "src")])


@pytest.mark.parametrize("name", RECORDS)
def test_record_fields_are_documented(name: str, griffe_package) -> None:  # type: ignore[no-untyped-def]
    """Events, statuses, checkpoints...: each field, as the reference renders it."""
    cls = getattr(aiotrainer, name)
    documented = griffe_package[name]
    own = _own_doc(cls) or ""
    undocumented = [
        field
        for field in _fields(cls)
        if not (field in documented.members and documented.members[field].docstring)
        and f":param {field}:" not in own
    ]
    assert not undocumented, f"{name}: no docstring for {undocumented}"


def test_sphinx_roles_become_links_or_code() -> None:
    """tools/griffe_sphinx_roles.py, as mkdocs.yml loads it."""
    griffe = pytest.importorskip("griffe")
    extension = griffe.load_extensions(
        f"{ROOT / 'tools' / 'griffe_sphinx_roles.py'}:SphinxRoles"
    )
    package = griffe.load(
        "aiotrainer", search_paths=[str(ROOT / "src")], extensions=extension
    )
    service = package["TrainerService"].docstring.value
    assert ":class:" not in service and ":meth:" not in service
    assert "[`TrainingModel`][aiotrainer.TrainingModel]" in service  # exported
    assert "\n::\n" not in "\n" + service  # the reST literal marker is gone
    save = package["TrainerService"].members["save_state"].docstring.value
    assert "[`pause()`][aiotrainer.TrainerService.pause]" in save  # a member
    user = package["DataUser"].docstring.value
    assert "`update()`" in user and "][aiotrainer.DataUser.update]" in user


def test_strict_build_is_configured() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^strict: true$", config, re.MULTILINE)
    assert re.search(r"^\s+omitted_files: warn$", config, re.MULTILINE)
