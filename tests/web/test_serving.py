"""The dashboard's files: served by the app beside the API, self-contained, no markup
built from strings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from vpp.app import create_app

WEB = Path(__file__).resolve().parents[2] / "vpp" / "web"
SCRIPTS = sorted(WEB.glob("*.js"))
IMPORT = re.compile(r"""(?:from\s+|import\s*\(\s*)["'](\./[\w.-]+)["']""")


@pytest.fixture
def client() -> TestClient:
    """The app without its lifespan: these routes touch no database."""
    return TestClient(create_app(make_settings()), raise_server_exceptions=False)


def test_the_dashboard_is_served_at_the_root_without_shadowing_the_api(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/static/app.js"></script>' in page.text
    assert "Content-Security-Policy" in page.text

    for path in ("/static/app.js", "/static/app.css", "/static/index.html"):
        assert client.get(path).status_code == 200, path
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/missing.js").status_code == 404

    # The API and its documents answer as before.
    for path in ("/healthz", "/docs", "/openapi.json", "/metrics"):
        assert client.get(path).status_code == 200, path
    missing = client.post("/v1/nothing-here", json={})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    paths = client.get("/openapi.json").json()["paths"]
    assert all(p.startswith("/v1/") or p in ("/healthz", "/readyz") for p in paths)


def test_every_module_a_script_imports_is_there() -> None:
    assert SCRIPTS
    for script in SCRIPTS:
        for target in IMPORT.findall(script.read_text()):
            assert (WEB / target).is_file(), f"{script.name} imports {target}"


def test_the_files_load_nothing_from_elsewhere() -> None:
    for path in [*SCRIPTS, WEB / "index.html", WEB / "app.css"]:
        text = path.read_text().replace("http://www.w3.org/2000/svg", "")
        assert re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", text) == [], path.name
        assert "@import" not in text, path.name


def test_no_script_turns_strings_into_markup_or_code() -> None:
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    )
    for script in SCRIPTS:
        assert forbidden.findall(script.read_text()) == [], script.name
