"""Read the ``--config`` YAML file into ``{setting: (value, "file:line")}``, reporting every problem."""

from __future__ import annotations

from typing import Any

import yaml


def read_config_file(path: str, known: set[str], problems: list[str]) -> dict[str, tuple[Any, str]]:
    """Read the top-level scalar settings of ``path`` with where each is.

    Problems (unknown keys, duplicates, non-scalar values, an unreadable file) are appended to
    ``problems``, each naming file and line; the settings that were fine are still returned.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            root = yaml.compose(fh, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"cannot read config file {path}: {exc}")
        return {}
    except yaml.YAMLError as exc:
        problems.append(f"cannot read config file {path}: invalid YAML: {exc}")
        return {}
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        problems.append(f"{path}:{root.start_mark.line + 1}: the top level must be a mapping of setting: value")
        return {}
    out: dict[str, tuple[Any, str]] = {}
    for key_node, value_node in root.value:
        where = f"{path}:{key_node.start_mark.line + 1}"
        key = key_node.value
        if not isinstance(key_node, yaml.ScalarNode) or key not in known:
            problems.append(f"{where}: unknown key {key!r} (unknown keys are refused; see `vigil serve --help`)")
            continue
        if key in out:
            problems.append(f"{where}: {key} is set twice (first at {out[key][1]})")
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            problems.append(f"{where}: {key} must be a single value, not a list or mapping")
            continue
        value = yaml.SafeLoader(stream="").construct_object(value_node)
        if value is not None:
            out[key] = (value, where)
    return out
