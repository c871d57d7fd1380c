"""Private files: the data dir is 0700 and the SQLite files 0600, so only the server's user reads the store.

A path created here gets the private mode at once. A path that already exists with group or other
permission bits (made by an older version, or under a loose umask) is tightened on start when the
server's user owns it, with a warning naming it; a path owned by someone else, or a shared sticky
folder such as /tmp, is left alone with a warning saying how to fix it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("stackwright.core")
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) with mode 0700, or tighten it if it exists."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path)


def private_sqlite_files(db_path: str) -> None:
    """Create the SQLite file 0600 before SQLite does (its -wal and -shm files then get the same mode),
    and tighten the files that exist already. In-memory databases have no file."""
    if db_path in ("", ":memory:") or db_path.startswith("file:"):
        return
    path = Path(db_path)
    try:  # never open an existing file: closing any descriptor of it drops this process' SQLite locks on it
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass
    except OSError:
        return  # a missing folder: Database.check_connection says how to fix it
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        if candidate.exists():
            _tighten(candidate)


def _tighten(path: Path) -> None:
    """Drop the group and other permission bits of ``path`` if the server's user owns it."""
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return
    fix = f"chmod go-rwx {path}"
    if info.st_uid != os.geteuid() or mode & stat.S_ISVTX:
        log.warning("%s is open to other users (mode %o), left as is (another user's, or a shared sticky folder); "
                    "if it holds Stackwright's data, run `%s` as its owner", path, mode, fix)
        return
    os.chmod(path, mode & ~0o077)
    log.warning("tightened %s from mode %o to %o: it is readable only by the server's user now", path, mode, mode & ~0o077)
