"""Every third-party package mortard imports is declared in pyproject.toml: the product's modules by
its dependencies, the embedded stack's (`mortard/testing/`, `mortard/demo/`) at least by an extra. An
undeclared import works on a developer's machine and fails on a clean `pip install mortard`."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPTIONAL_HOMES = ("mortard/testing/", "mortard/demo/")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports() -> dict[str, set[str]]:
    """Top-level third-party module -> the files importing it."""
    out: dict[str, set[str]] = {}
    for path in (ROOT / "mortard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            for name in names:
                top = name.split(".")[0]
                if top != "mortard" and top not in sys.stdlib_module_names:
                    out.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {_name(r) for r in project["dependencies"]}
    optional = {_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    dists = packages_distributions()
    missing = []
    for module, files in sorted(_imports().items()):
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        product = [f for f in files if not f.startswith(OPTIONAL_HOMES)]
        if product and not names & required:
            missing.append(f"{module} (imported by {', '.join(sorted(product)[:3])}) is not in dependencies")
        elif not names & (required | optional):
            missing.append(f"{module} (imported by {', '.join(sorted(files)[:3])}) is in no extra")
    assert not missing, "\n".join(missing)


def test_the_product_does_not_pin_what_only_the_tests_need():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    aiohttp = [r for r in project["dependencies"] if _name(r) == "aiohttp"]
    assert aiohttp and "<" not in aiohttp[0], aiohttp
    assert any(_name(r) == "aiohttp" and "<3.14" in r for r in project["optional-dependencies"]["test"])
