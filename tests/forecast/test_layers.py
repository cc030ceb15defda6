"""vpp.forecast is pure: it imports no I/O library, no pydantic, and nothing of ours but domain."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "httpx",
    "apscheduler",
    "psycopg",
    "uvicorn",
    "pydantic",
    "pydantic_settings",
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_forecast_imports_only_numpy_pandas_scipy_and_domain() -> None:
    files = sorted((ROOT / "vpp" / "forecast").rglob("*.py"))
    assert files
    offences = []
    for path in files:
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in FORBIDDEN:
                offences.append(f"{path.name} imports {name}")
            if top in ("vpp", "adapters", "market") and not name.startswith(
                ("vpp.domain", "vpp.forecast")
            ):
                offences.append(f"{path.name} imports {name}")
    assert offences == []


def test_the_walker_sees_relative_and_absolute_imports() -> None:
    names = imports_of(ROOT / "vpp" / "forecast" / "model.py")
    assert "vpp.domain" in names
    assert "numpy" in names
