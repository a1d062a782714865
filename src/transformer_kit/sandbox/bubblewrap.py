"""Full isolation: the worker runs inside bubblewrap (`bwrap`, the sandbox under Flatpak).

The worker sees a file system made for it, all read-only but its scratch folder:
- the system's /usr (and the /bin, /lib... links or folders beside it) and the loader's cache;
- the Python installation and virtual environment that run the kit, and the kit's own package
  with its `solutions/` and `graders/` (fixtures included) masked by empty folders;
- the learner's `exercises/` folder of the workspace being graded, nothing else of it;
- a fresh /dev (read-only), a /proc of its own PID namespace, and /tmp: a size-capped tmpfs that
  is its working directory and home, and that vanishes with it.
It has its own user (unless the kit runs as root, see `isolation.drop_root`), PID, IPC, UTS,
cgroup and network namespaces (loopback only), no capabilities, no_new_privs (bwrap sets it), its
own session (no terminal to inject keystrokes into), and it dies with the grading process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import transformer_kit

SCRATCH = "/tmp"
MASKED = ("solutions", "graders")  # inside the kit's package: what the worker must not read
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
LOADER_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")


def executable() -> str | None:
    return shutil.which("bwrap")


@cache
def available() -> bool:
    """Whether bwrap runs here with the options the kit uses (one probe per process)."""
    bwrap = executable()
    if bwrap is None or not sys.platform.startswith("linux"):
        return False
    probe = [*command(bwrap, [], scratch_bytes=1024**2), "/usr/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def command(bwrap: str, visible: Sequence[Path], scratch_bytes: int) -> list[str]:
    """The bwrap argument list, up to the command: `visible` are extra read-only paths (the
    learner's exercises folder and, for a symlinked exercise file, its target)."""
    args = [bwrap, *_namespaces(), "--die-with-parent", "--new-session"]
    args += ["--size", str(scratch_bytes), "--perms", "1777", "--tmpfs", SCRATCH]
    args += ["--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc"]
    args += _system()
    package = Path(transformer_kit.__file__).resolve().parent
    shown = [p for p in visible if not any(_overlap(p.resolve(), m) for m in _masked())]
    args += _read_only([*_python_paths(), package, *shown])  # no way around the masks
    for mask in map(str, _masked()):
        args += ["--perms", "0555", "--tmpfs", mask, "--remount-ro", mask]
    return [*args, "--chdir", SCRATCH]


def _overlap(path: Path, masked: Path) -> bool:
    """Whether binding `path` would show what `masked` hides (inside it, or holding it)."""
    return path.is_relative_to(masked) or masked.is_relative_to(path)


@cache
def _masked() -> tuple[Path, ...]:
    """The kit's solutions/ and graders/ where the package finds them (`transformer_kit.CONTENT`:
    inside it in a wheel, the top of a source checkout with `pip install -e .`, where a
    learner's symbolic link to a reference would otherwise have its target bound in)."""
    return tuple(transformer_kit.CONTENT / name for name in MASKED)


def _namespaces() -> list[str]:
    shared = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    shared.append("--unshare-cgroup-try")
    if os.geteuid() == 0:
        # root keeps only what it needs to drop root; the worker does so before it loads
        # the learner's module (a user namespace would map its user to root outside)
        caps = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        return [*shared, "--cap-drop", "ALL", *caps]
    return [*shared, "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]


def _system() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for path in LOADER_FILES:
        args += ["--ro-bind-try", path, path]
    return args


def _python_paths() -> list[Path]:
    """The interpreter and the environments it loads packages from."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths = [Path(p) for p in prefixes] + [Path(sys.executable).resolve().parent]
    return [p for p in paths if p.exists()]


def _read_only(paths: Iterable[Path]) -> list[str]:
    """Binds for `paths` (and their resolved forms), outermost first, none inside another;
    the folders above them get mode 755 so any user can walk down to them."""
    chosen: list[Path] = []
    for path in sorted({Path(os.path.abspath(p)) for p in paths} | {p.resolve() for p in paths}):
        if not any(path.is_relative_to(c) for c in chosen) and not _is_system(path):
            chosen.append(path)
    args: list[str] = []
    made: set[Path] = set()
    for path in chosen:
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in made and not _is_system(parent):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(path), str(path)]
    return args


def _is_system(path: Path) -> bool:
    """Inside what `_system` binds already (or the scratch folder's own mount point)."""
    return any(path.is_relative_to(root) for root in ("/usr", *SYSTEM_LINKS)) or str(path) in (
        SCRATCH,
        "/dev",
        "/proc",
    )
