"""Writing a whole file atomically and durably.

A temporary file of the wanted mode is created in the target's directory, written and
fsynced, then moved into place and the directory fsynced: readers see the old file or the
new one, never a part, and a crash leaves no temporary file behind. The one way oceanfed
writes a whole file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path


def write_atomic(
    path: Path, data: bytes, *, mode: int, replace: bool, durable_dir: bool = True
) -> None:
    """Write ``data`` to ``path`` with permissions ``mode``, atomically and durably.

    An existing ``path`` is replaced only when ``replace``; otherwise FileExistsError.
    Other failures raise OSError; the temporary file never remains. ``durable_dir=False``
    skips the directory fsync (about 10 ms on a busy disk): readers still never see a part,
    but after a power loss the file may be the old one. Only for files that are rewritten
    all the time and are not state (``status.json``).
    """
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
        if durable_dir:
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _link_no_clobber(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` atomically, failing with FileExistsError if ``dst`` exists."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if dst.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(dst)) from None
        os.rename(src, dst)
    else:
        os.unlink(src)
