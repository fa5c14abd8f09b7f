"""Named settings: a few params.yaml keys changed at once, run as a DVC experiment.

A setting file (``settings/<name>.yaml``) maps dotted params keys to values, e.g.
``gan.iterations: 1000``; every other key stays params.yaml's. ``overrides`` checks each key
exists and the result is valid params (the same schema as ``load_params``), then
``python -m voice2mesh.settings settings/gates.yaml`` prints the ``-S key=value`` arguments of
``dvc exp run``, which is how ``make repro-gates`` runs it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from voice2mesh.config import DEFAULT_PARAMS, ConfigError, params_from_dict


def read_setting(path: Path | str) -> dict[str, Any]:
    """The ``{dotted key: value}`` mapping of a setting file."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ConfigError(f"{path}: a setting maps dotted params keys to values, e.g. gan.lr: 1e-4")
    return data


def overrides(setting: dict[str, Any], params: Path | str = DEFAULT_PARAMS) -> dict[str, Any]:
    """Check ``setting`` against ``params`` (every key exists; the result validates); return it."""
    data = yaml.safe_load(Path(params).read_text())
    for key, value in setting.items():
        node, *path, last = [data, *key.split(".")]
        for part in path:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{key}: no such key in {params}; settings change existing keys")
            node = node[part]
        if not isinstance(node, dict) or last not in node:
            raise ConfigError(f"{key}: no such key in {params}; settings change existing keys")
        node[last] = value
    params_from_dict(data, f"{params} + setting")
    return setting


def exp_run_args(setting: dict[str, Any]) -> list[str]:
    """``dvc exp run`` arguments setting each key (values in YAML's flow style)."""
    return [arg for key, value in setting.items() for arg in ("-S", f"{key}={json.dumps(value)}")]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m voice2mesh.settings settings/<name>.yaml")
    try:
        print(" ".join(exp_run_args(overrides(read_setting(args[0])))))
    except (ConfigError, OSError, yaml.YAMLError) as error:
        sys.exit(f"voice2mesh.settings: error: {error}")


if __name__ == "__main__":
    main()
