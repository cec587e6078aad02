"""Which entries of a calendar folder syncd may read and write, and reading them safely.

A calendar folder is not always tidy: sync tools leave links, conflict copies and half-written
files; a hostile file may be planted on purpose. The rules:

- An event file is a regular file named `*.ics` (not a dotfile, not a `~`/`#` backup), or a
  link to a regular file that resolves *inside* the folder. A link out of the folder is never
  followed: nothing outside the folders the coach configured is read or written.
- A link loop, a dangling link, a folder, fifo or device named `*.ics`, an entry that cannot be
  looked at: skipped with a reason; the rest of the folder is read.
- Two entries that are the same file (a link to a file of the folder, a hard link) are read
  once, under the name of the one that is not a link.
- Writing goes to the file a link resolves to, so the link stays a link.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from syncd.errors import BadEvent
from syncd.files import TEMP_PREFIX, TEMP_SUFFIX

# A single event file this big is not something a calendar client wrote; do not load it.
MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Listing:
    """A folder's usable event files (name -> stat of the file read), the entries skipped
    (name -> why) and syncd's own temp files seen (see `syncd.files`)."""

    files: dict[str, os.stat_result]
    skipped: dict[str, str]
    temp_files: tuple[str, ...] = ()


def list_event_files(folder: Path) -> Listing:
    """The event files of `folder` (see the module doc). Raises OSError when it cannot be listed.

    An idle daemon lists every calendar folder every pass, so the plain file, by far the most
    common entry, is stat'ed straight away; links and the rest go through `_examine`."""
    root = ""
    found: dict[str, tuple[os.stat_result, bool]] = {}
    skipped: dict[str, str] = {}
    temp: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if not is_event_file(name):
                if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
                    temp.append(name)
                continue
            info = _plain_file(entry)
            if info is not None:
                found[name] = (info, False)
                continue
            root = root or os.path.realpath(folder)
            problem, examined = _examine(entry, root)
            if problem:
                skipped[name] = problem
            elif examined is not None:
                found[name] = examined
    return Listing(_one_name_per_file(found, skipped), skipped, tuple(temp))


def _plain_file(entry: os.DirEntry[str]) -> os.stat_result | None:
    """The stat of a regular file that is no link; None for anything else (or a problem)."""
    try:
        if not entry.is_file(follow_symlinks=False):
            return None
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def is_event_file(name: str) -> bool:
    """True for a name a calendar app gives an event file."""
    # Dotfiles are editors' and vdirsyncer's temp files (and ours); `~`/`#` are backups.
    return name.lower().endswith(".ics") and not name.startswith((".", "~", "#"))


def real_path(folder: Path, name: str) -> Path:
    """The file entry `name` of `folder` stands for, links resolved.

    Raises `BadEvent` when it resolves outside the folder (or cannot be resolved).
    """
    try:
        target = os.path.realpath(folder / name)
    except OSError as exc:  # a loop, on Pythons whose realpath says so
        raise BadEvent(_why(exc)) from None
    if not _inside(target, os.path.realpath(folder)):
        raise BadEvent("a link to outside the calendar folder; not followed")
    return Path(target)


def read_event_file(folder: Path, name: str) -> tuple[bytes, os.stat_result, Path] | None:
    """An event file's bytes, stat and real path; None when it is gone.

    Raises `BadEvent` when it cannot be read, is not a regular file, is too big, or is a link
    out of the folder. Opened without blocking, so a fifo put in its place cannot hang syncd.
    """
    target = real_path(folder, name)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadEvent(_why(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadEvent(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > MAX_FILE_BYTES:
            raise BadEvent(f"file is {info.st_size} bytes, more than an event file can be")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(), info, target
    except OSError as exc:
        raise BadEvent(_why(exc)) from None
    finally:
        os.close(fd)


def _examine(entry: os.DirEntry[str], root: str) -> tuple[str, tuple[os.stat_result, bool] | None]:
    """Why `entry` is skipped ("" when it is usable), and its stat and whether it is a link."""
    try:
        link = entry.is_symlink()
        if link:
            target = os.path.realpath(entry.path, strict=True)
            if not _inside(target, root):
                return "a link to outside the calendar folder; not followed", None
        info = entry.stat()
    except FileNotFoundError:
        # A link to nothing; a plain file deleted while the folder was listed is simply gone.
        return ("a link to a file that does not exist" if _is_link(entry) else ""), None
    except OSError as exc:
        return _why(exc), None
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file ({_kind(info.st_mode)})", None
    return "", (info, link)


def _one_name_per_file(
    found: dict[str, tuple[os.stat_result, bool]], skipped: dict[str, str]
) -> dict[str, os.stat_result]:
    """`found` with each file once: two names for one file would make one event two."""
    if len({(info.st_dev, info.st_ino) for info, _ in found.values()}) == len(found):
        return {name: info for name, (info, _) in found.items()}  # the usual folder: no two
    by_file: dict[tuple[int, int], list[str]] = {}
    for name, (info, _) in found.items():
        by_file.setdefault((info.st_dev, info.st_ino), []).append(name)
    kept: dict[str, os.stat_result] = {}
    for names in by_file.values():
        names.sort(key=lambda name: (found[name][1], name))  # the one that is not a link first
        kept[names[0]] = found[names[0]][0]
        for other in names[1:]:
            skipped[other] = f"the same file as {names[0]}; read once, under that name"
    return kept


def _inside(target: str, root: str) -> bool:
    return target.startswith(root.rstrip(os.sep) + os.sep)


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a link loop (or a link where a file was expected)"
    return f"cannot be read: {exc.strerror or exc}"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file"
