"""Writing files so that a crash at any instant leaves the old content or the new, never half.

Every file syncd writes goes through `atomic_write`; its temp files share one name pattern,
so `remove_stale_temp_files` can clear what a killed process left behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

TEMP_PREFIX = ".syncd-"
TEMP_SUFFIX = ".tmp"
# A temp file younger than this may belong to another syncd process that is writing right now.
STALE_AFTER = 60.0


def atomic_write(
    path: Path,
    data: bytes,
    mode: int = 0o600,
    *,
    exclusive: bool = False,
    before_replace: Callable[[], None] | None = None,
) -> bool:
    """Write `data` to `path` through a temp file in the same folder (fsync, rename, fsync folder).

    With `exclusive`, never replace an existing file: return False instead. `before_replace`
    runs after the data is safely on disk and may raise to abandon the write (e.g. when the
    target changed meanwhile). Raises OSError; the temp file is removed on any failure.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        written = _link_new(temp, path) if exclusive else _replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    _sync_folder(path.parent)
    return written


def _replace(temp: Path, path: Path) -> bool:
    temp.replace(path)
    return True


def _link_new(temp: Path, path: Path) -> bool:
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError:  # no hard links here (some network or FUSE file systems)
        if path.exists():
            return False
        temp.replace(path)
    return True


def _sync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk too.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temp_files(
    folder: Path, now: float | None = None, *, names: Iterable[str] | None = None
) -> int:
    """Delete syncd temp files in `folder` left by a killed process; return how many.
    `names`: the folder's temp files as a listing just saw them (it is not listed again)."""
    cutoff = (time.time() if now is None else now) - STALE_AFTER
    removed = 0
    with contextlib.suppress(OSError):
        if names is None:
            names = [entry.name for entry in os.scandir(folder)]
        for name in names:
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
                path = folder / name
                with contextlib.suppress(OSError):
                    if path.lstat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
    return removed


def make_private_folders(folder: Path) -> None:
    """Create `folder` and any missing parent with mode 0700 (`mkdir(parents=True)` gives the
    parents the umask's mode): folders made for a token (`state_dir/accounts/<coach>/`)."""
    for missing in [*reversed([p for p in folder.parents if not p.exists()]), folder]:
        missing.mkdir(mode=0o700, exist_ok=True)


FileStamp = tuple[int, int, int]  # a file's inode, mtime (ns) and size


def file_stamp(path: Path) -> FileStamp | None:
    """What changes when a file is replaced or rewritten (a token file another command wrote);
    None when it does not exist."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size
