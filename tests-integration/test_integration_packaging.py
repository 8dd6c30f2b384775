"""Each package installs and imports on its own, with only the dependencies it declares."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
@pytest.mark.parametrize(
    ("package", "module", "absent"),
    [
        ("akx-memory", "akx_memory", ["akx_runtime", "akx_bridge", "akx_dev"]),
        ("akx-bridge", "akx_bridge", ["akx_runtime", "akx_memory", "akx_dev"]),
    ],
)
def test_package_installs_and_imports_alone(
    package: str, module: str, absent: list[str], tmp_path: Path
) -> None:
    assert UV is not None, "uv must be on PATH (CI installs it)"
    dist = tmp_path / "dist"
    for name in ("akx-events", package):
        _run(UV, "build", "--quiet", "--package", name, "--wheel", "--out-dir", str(dist))
    venv = tmp_path / "venv"
    _run(UV, "venv", "--quiet", "--python", "3.11", str(venv))
    python = venv / "bin" / "python"
    wheels = sorted(str(w) for w in dist.glob("*.whl"))
    _run(UV, "pip", "install", "--quiet", "--python", str(python), *wheels)
    probe = (
        f"import importlib.util, {module}\n"
        f"assert {module}.__all__\n"
        f"missing = [m for m in {absent!r} if importlib.util.find_spec(m) is not None]\n"
        "assert not missing, missing\n"
        "print('ok')\n"
    )
    assert _run(str(python), "-c", probe).stdout.strip() == "ok"
