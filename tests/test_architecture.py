"""DESIGN.md's dependency rules, checked by reading every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute module names imported by a file, with line numbers (relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return found


def _violations(package: str, allowed) -> list[str]:
    problems = []
    for path in _modules(package):
        for name, line in _imports(path):
            if not allowed(name):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return problems


def test_domain_imports_only_the_stdlib_and_itself():
    def allowed(name: str) -> bool:
        top = name.split(".")[0]
        return top in STDLIB or top == "__future__" or name.startswith("ticketing.domain")

    assert _violations("ticketing/domain", allowed) == []


@pytest.mark.parametrize("package", ["channels"])
def test_channels_only_translate(package):
    forbidden = ("ticketing.models", "ticketing.services", "ticketing.web", "ticketing.db",
                 "ticketing.extensions", "ticketing.app", "flask", "flask_sqlalchemy",
                 "sqlalchemy")

    def allowed(name: str) -> bool:
        if name.startswith("ticketing.") and not name.startswith("ticketing.domain"):
            return False
        return not any(name == f or name.startswith(f + ".") for f in forbidden)

    assert _violations(package, allowed) == []


def test_services_never_reach_up_to_requests_users_channels_or_views():
    forbidden = ("channels", "ticketing.web", "ticketing.cli", "ticketing.jobs",
                 "ticketing.pipeline", "flask_login")

    def allowed(name: str) -> bool:
        return not any(name == f or name.startswith(f + ".") for f in forbidden)

    problems = _violations("ticketing/services", allowed)
    for path in _modules("ticketing/services"):
        source = path.read_text()
        for needle in ("from flask import request", "flask.request", "current_user", ".commit()"):
            if needle in source:
                problems.append(f"{path.relative_to(ROOT)} uses {needle}")
    assert problems == []


def test_models_hold_no_workflows():
    def allowed(name: str) -> bool:
        return not name.startswith(("ticketing.services", "ticketing.web", "channels"))

    assert _violations("ticketing/models", allowed) == []


def test_only_the_clock_module_reads_the_system_clock():
    problems = []
    for package in ("ticketing", "channels"):
        for path in _modules(package):
            if path.name == "clock.py":
                continue
            text = path.read_text()
            for needle in ("datetime.now(", "datetime.utcnow(", "time.time()", "date.today("):
                if needle in text:
                    problems.append(f"{path.relative_to(ROOT)} calls {needle}")
    assert problems == []


def test_the_only_module_level_app_is_in_wsgi():
    problems = []
    for path in [*_modules("ticketing"), *_modules("channels")]:
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = node.value.func
                if isinstance(func, ast.Name) and func.id in {"create_app", "Flask"}:
                    problems.append(str(path.relative_to(ROOT)))
    assert problems == []
