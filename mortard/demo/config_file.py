"""The kept demo's configuration as a file (`.demo/mortard.toml`), so the operator's commands can be
tried against the running stack: `mortard orders list --config .demo/mortard.toml`.

Secrets are never written into a config file (`mortard.config` refuses them there): the sandbox's
made-up tokens and webhook secrets go to files beside it (mode 0600), named by `*_file`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "mortard.toml"


def write_config_file(data_dir: Path, data: dict[str, Any], env: dict[str, str]) -> Path:
    secrets_dir = data_dir / "secrets"
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / FILE_NAME
    path.write_text("# Written by `mortard demo --keep` for the stack it keeps running; rewritten on every run.\n"
                    + _toml(_secrets_to_files(data, env, secrets_dir)))
    return path


def _secrets_to_files(node: Any, env: dict[str, str], secrets_dir: Path) -> Any:
    """`token_env = "X"` becomes `token_file = "<dir>/x"`, the file holding X's value."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.endswith("_env") and isinstance(value, str) and value in env:
            target = secrets_dir / value.lower()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(env[value])
            out[key[: -len("_env")] + "_file"] = str(target.resolve())
        else:
            out[key] = _secrets_to_files(value, env, secrets_dir)
    return out


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for a config: scalars first, then each table under its dotted, quoted header."""
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) or not v}
    tables = {k: v for k, v in data.items() if k not in scalars}
    out = [f"[{prefix}]"] if prefix and scalars else []
    out += [f"{json.dumps(k)} = {_value(v)}" for k, v in scalars.items()]
    text = "\n".join(out) + ("\n" if out else "")
    for k, v in tables.items():
        text += ("\n" if text else "") + _toml(v, f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k))
    return text


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{}" if not v else "{ " + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML form for {type(v).__name__}")
