"""The dependency rules of DESIGN.md section 4, checked by walking the imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "httpx",
    "apscheduler",
    "psycopg",
    "uvicorn",
)
PURE_PACKAGES = {
    "vpp/domain": ("vpp.domain",),
    "vpp/forecast": ("vpp.domain", "vpp.forecast"),
    "vpp/optimize": ("vpp.domain", "vpp.optimize"),
    "vpp/green/core": ("vpp.domain", "vpp.green.core"),
}


PURE_MODULES = {
    # vpp/settlement has a pure core next to its service, API and jobs.
    "vpp/settlement/measurement.py": ("vpp.domain", "vpp.forecast", "vpp.settlement"),
    "vpp/settlement/sharing.py": ("vpp.domain", "vpp.forecast", "vpp.settlement"),
    "vpp/settlement/core.py": ("vpp.domain", "vpp.forecast", "vpp.settlement"),
    "vpp/settlement/ledger.py": ("vpp.domain", "vpp.forecast", "vpp.settlement"),
}
PURE_SETTLEMENT = tuple(
    f"vpp.settlement.{Path(p).stem}" for p in PURE_MODULES if p.startswith("vpp/settlement/")
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(PURE_PACKAGES))
def test_pure_packages_import_no_io_and_nothing_else_of_ours(package: str) -> None:
    allowed_own = PURE_PACKAGES[package]
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    offences = []
    for path in files:
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in IO_LIBRARIES or top == "pydantic":
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
            if top in ("vpp", "adapters", "market") and not name.startswith(allowed_own):
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


@pytest.mark.parametrize("module", sorted(PURE_MODULES))
def test_pure_modules_import_no_io_and_only_pure_code(module: str) -> None:
    path = ROOT / module
    assert path.exists(), f"{module} is declared pure but does not exist"
    offences = []
    for name in imports_of(path):
        top = name.split(".")[0]
        if top in IO_LIBRARIES or top == "pydantic":
            offences.append(f"{module} imports {name}")
        if top in ("vpp", "adapters", "market") and not name.startswith(PURE_MODULES[module]):
            offences.append(f"{module} imports {name}")
        if name.startswith("vpp.settlement") and name not in (*PURE_SETTLEMENT, "vpp.settlement"):
            offences.append(f"{module} imports the impure {name}")
    assert offences == []


def test_the_walker_sees_imports() -> None:
    assert "sqlalchemy.orm" in imports_of(
        ROOT / "vpp" / "models" / "base.py"
    ) or "sqlalchemy" in imports_of(ROOT / "vpp" / "models" / "base.py")
