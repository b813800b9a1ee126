"""Uploaded files: kept next to the runs, one folder per signed-in user, under a quota; deleting
one deletes the web server's temporary copies of it too.

    <runs>/_uploads/<digest>/<name>             uploads without sign-in
    <runs>/_uploads/u-<user>/<digest>/<name>    a signed-in user's uploads (``--auth``)
    <runs>/_uploads/.gradio-tmp/...             the web server's temporary copies (uploads as
                                                they arrive, files handed out for download)

``<digest>`` names the content, so the same file uploaded twice is stored once; the file keeps
the user's own name (it shows in messages), made safe (engine.runs.safe_filename).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from pathlib import Path

from engine.errors import QuotaError

TEMP_DIR_NAME = ".gradio-tmp"
USER_PREFIX = "u-"
DAY = 24 * 3600
_DIGEST = re.compile(r"^[0-9a-f]{12}$")
_CHUNK = 1 << 20


def file_digest(path: str | Path, algorithm: str = "sha1") -> str:
    """The hex digest of a file's content, read in chunks (an upload is never held whole)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def user_folder_name(user: str) -> str:
    """A folder name for ``user`` that no other user name maps to: the name itself when it is
    made only of safe characters, else its safe part plus a hash of the whole name."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", user).strip("-")[:40]
    if safe != user or not safe:
        safe = f"{safe or 'user'}-{hashlib.sha1(user.encode('utf-8')).hexdigest()[:8]}"
    return USER_PREFIX + safe


def _size_of(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total


class Uploads:
    """The uploads folder of one runs folder (``<runs>/_uploads``)."""

    def __init__(self, root: str | Path, quota_bytes: int | None = None):
        self.root = Path(root)
        self.quota_bytes = quota_bytes

    @property
    def temp_dir(self) -> Path:
        """Where the web server puts its temporary copies (GRADIO_TEMP_DIR, set by app.py)."""
        return self.root / TEMP_DIR_NAME

    def folder(self, user: str | None) -> Path:
        """Where ``user``'s uploads go (None: a studio without sign-in)."""
        return self.root if not user else self.root / user_folder_name(user)

    def usage(self, user: str | None) -> int:
        """Bytes of ``user``'s kept uploads (without sign-in: the shared ones)."""
        folder = self.folder(user)
        if not folder.is_dir():
            return 0
        if user:
            return _size_of(folder)
        return sum(_size_of(p) for p in folder.iterdir() if p.is_dir() and _DIGEST.match(p.name))

    def owns(self, path: str | Path, user: str | None) -> bool:
        """Is ``path`` one of ``user``'s kept uploads?"""
        try:
            p = Path(path).resolve()
        except (OSError, ValueError):
            return False
        folder = self.folder(user).resolve()
        if folder not in p.parents:
            return False
        if not user:  # no sign-in: a digest folder right under the root
            return p.parent.parent == folder and bool(_DIGEST.match(p.parent.name))
        return True

    def keep(self, source: str | Path, user: str | None = None, name: str | None = None) -> Path:
        """Copy an uploaded file into ``user``'s folder (a folder named by its content) and
        return the copy. QuotaError when it would take the user over the quota; OSError when the
        name would leave the folder."""
        from engine.runs import safe_filename

        src = Path(source)
        digest = file_digest(src)[:12]
        base = self.folder(user).resolve()
        folder = base / digest
        dest = folder / safe_filename(name if name is not None else src.name)
        if dest.parent != folder or self.root.resolve() not in folder.parents:
            raise OSError(f"Refusing to store the upload {src.name!r} outside {self.root}.")
        if dest.is_symlink():  # never follow a link someone left in the uploads folder
            dest.unlink()
        if dest.exists():
            return dest
        if self.quota_bytes is not None:
            size, used = src.stat().st_size, self.usage(user)
            if used + size > self.quota_bytes:
                mb = 1e6
                raise QuotaError(
                    f"This upload ({size / mb:.1f} MB) would take your uploads over your quota "
                    f"of {self.quota_bytes / mb:.0f} MB ({used / mb:.1f} MB used): delete runs "
                    "you no longer need, with their data, in the Runs tab.",
                    key="uploads.quota",
                    size=f"{size / mb:.1f}",
                    quota=f"{self.quota_bytes / mb:.0f}",
                    used=f"{used / mb:.1f}",
                )
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{dest.name}.part"
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return dest

    def remove(self, paths: list[Path]) -> list[str]:
        """Delete these kept uploads (and their folders once empty); returns what went."""
        removed = []
        for f in paths:
            if f.exists() and self.root.resolve() in f.resolve().parents:
                f.unlink()
                removed.append(str(f))
                parent = f.parent
                if parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()
        return removed

    def remove_copies(self, originals: list[Path]) -> list[str]:
        """Delete the files in the temporary folder whose content is one of ``originals``
        (compared by size, then by digest; read before the originals are deleted)."""
        temp = self.temp_dir
        if not temp.is_dir():
            return []
        wanted: dict[int, list[Path]] = {}
        for f in originals:
            try:
                if f.is_file():
                    wanted.setdefault(f.stat().st_size, []).append(f)
            except OSError:
                continue
        digests: dict[int, set[str]] = {}
        removed = []
        for copy in list(temp.rglob("*")):  # (emptied folders go as we walk)
            try:
                if not copy.is_file() or copy.is_symlink():
                    continue
                size = copy.stat().st_size
            except OSError:
                continue
            if size not in wanted:
                continue
            if size not in digests:
                digests[size] = {file_digest(f, "sha256") for f in wanted[size]}
            if file_digest(copy, "sha256") in digests[size]:
                copy.unlink(missing_ok=True)
                removed.append(str(copy))
                _remove_empty(copy.parent, temp)
        return removed

    def keep_purging(self, every: float = 3600.0, older_than: float = DAY):
        """A daemon thread that runs ``purge_temp(older_than)`` every ``every`` seconds for as
        long as the server lives (a studio left running for a week keeps no week-old copy).
        Returns the thread; ``.stop`` (an Event) ends it."""
        import threading

        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every):
                self.purge_temp(older_than)

        thread = threading.Thread(target=loop, name="adaptune-purge-temp", daemon=True)
        thread.stop = stop
        thread.start()
        return thread

    def purge_temp(self, older_than: float | None = DAY) -> list[str]:
        """Delete the server's temporary copies older than ``older_than`` seconds (None: all of
        them: at start-up no run refers to a temporary copy, uploads are kept elsewhere)."""
        temp = self.temp_dir
        if not temp.is_dir():
            return []
        now = time.time()
        removed = []
        for path in sorted(temp.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            try:
                if path.is_dir() and not path.is_symlink():
                    if not any(path.iterdir()):
                        path.rmdir()
                    continue
                if older_than is None or now - path.lstat().st_mtime > older_than:
                    path.unlink()
                    removed.append(str(path))
            except OSError:
                continue
        return removed


def _remove_empty(folder: Path, stop: Path) -> None:
    try:
        while (
            folder != stop
            and stop in folder.parents
            and folder.is_dir()
            and not any(folder.iterdir())
        ):
            folder.rmdir()
            folder = folder.parent
    except OSError:
        pass
