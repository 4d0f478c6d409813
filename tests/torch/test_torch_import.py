"""The core never needs torch; the extra says how to install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_core_module_imports_with_torch_blocked() -> None:
    proc = run_python(
        """
        import importlib, pkgutil, sys
        sys.modules["torch"] = None  # any `import torch` now fails
        import aiotrainer
        names = [
            m.name
            for m in pkgutil.walk_packages(aiotrainer.__path__, "aiotrainer.")
            if not m.name.startswith("aiotrainer.torch")
        ]
        for name in names:
            importlib.import_module(name)
        print(len(names), "modules")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[0]) > 20


def test_importing_the_core_does_not_load_torch() -> None:
    proc = run_python(
        """
        import sys
        import aiotrainer, aiotrainer.demo, aiotrainer.cli
        print("torch" in sys.modules)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_the_extra_without_torch_says_how_to_install_it() -> None:
    proc = run_python(
        """
        import sys
        sys.modules["torch"] = None
        try:
            import aiotrainer.torch
        except ModuleNotFoundError as exc:
            print(exc.name)
            print(exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    name, message = proc.stdout.split("\n", 1)
    assert name == "torch"
    assert "aiotrainer.torch needs torch" in message
    assert "pip install torch==2.13.0 --index-url" in message
    assert "/whl/cpu" in message
