"""Read the ``--config`` YAML file (through :mod:`contracts.yamlfile`) into ``{setting: (value, "file:line")}``."""

from __future__ import annotations

from typing import Any

from contracts.yamlfile import load_yaml


def read_config_file(path: str, known: set[str], problems: list[str]) -> dict[str, tuple[Any, str]]:
    """Read the top-level scalar settings of ``path`` with where each is.

    Problems (an unreadable or invalid file, unknown or duplicate keys, lists or mappings where a
    setting takes one value) are appended to ``problems``, each naming file and line; the settings
    that were fine are still returned. A key with no value (YAML null) keeps the default.
    """
    before = len(problems)
    root = load_yaml(path, problems)
    if len(problems) > before and root.value is None:
        return {}
    if not isinstance(root.value, dict):
        if root.value not in (None, ""):
            problems.append(root.problem("the top level must be a mapping of setting: value"))
        return {}
    out: dict[str, tuple[Any, str]] = {}
    for key, node in root.value.items():
        if key not in known:
            problems.append(root.problem(f"unknown key {key!r} (see `vigil serve --help` for the settings)",
                                         root.key_marks.get(key)))
        elif isinstance(node.value, list | dict):
            problems.append(node.problem("takes a single value, not a list or mapping"))
        elif node.value is not None:
            out[key] = (node.value, str(node.mark))
    return out
