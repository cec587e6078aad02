"""Coaches from a folder (`coaches_dir:`): one YAML file per coach, each holding what one
`coaches:` entry holds, so an operator adds or removes a coach by adding or removing a file.

Every problem of every file is reported together, each as `FILE: key.path: what is wrong`, the
way the main file's are; relative paths in a coach's file are taken relative to its folder.
Files are read in name order (`*.yaml`, `*.yml`); hidden ones (an editor's `.ada.yaml.swp`,
a half-copied `.tmp` file) are not coaches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from syncd.config import _BASE_DIR, CoachConfig, format_validation, read_yaml
from syncd.errors import ConfigError

SUFFIXES = (".yaml", ".yml")


def add_coach_files(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The raw settings `data` with the coaches of `folder`'s files after those of `coaches:`.

    Raises ConfigError listing every problem (a coach whose email another file or the main
    file has too is one). A folder that is not there is left for the `coaches_dir` check."""
    listed = data.get("coaches") or []
    if not folder.is_dir() or not isinstance(listed, list):
        return data
    seen = {
        str(entry["email"]).lower(): "the config file's coaches:"
        for entry in listed
        if isinstance(entry, dict) and isinstance(entry.get("email"), str)
    }
    problems: list[str] = []
    found: list[CoachConfig] = []
    for path in coach_files(folder):
        try:
            coach = load_coach_file(path)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        other = seen.get(coach.email)
        if other is not None:
            problems.append(f"{path}: email: coach {coach.email} is also in {other}")
            continue
        seen[coach.email] = str(path)
        found.append(coach)
    if problems:
        raise ConfigError("\n".join(problems))
    return {**data, "coaches": [*listed, *found]}


def coach_files(folder: Path) -> list[Path]:
    """The coach files in `folder`, in name order."""
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot list the coaches folder: {exc.strerror}") from None
    return sorted(
        path
        for path in entries
        if path.suffix in SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def load_coach_file(path: Path) -> CoachConfig:
    """One coach's settings from `path`. Raises ConfigError, one `FILE: key: problem` line each."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        shown = "an empty file" if raw is None else type(raw).__name__
        raise ConfigError(f"{path}: expected one coach's settings (name: ..., email: ...), not {shown}")
    base = _BASE_DIR.set(path.resolve().parent)
    try:
        return CoachConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(f"{path}: {line}" for line in format_validation(exc))) from None
    finally:
        _BASE_DIR.reset(base)
