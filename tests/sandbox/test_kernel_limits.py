"""The kernel enforces the limits and the worker shares no kernel object (issue 19, items 4-5),
through the real `kit`: System V shared memory, fallocate on the output file, a thread storm as
an ordinary user, the session keyring, new namespaces; and the isolation level as an object."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import kit_executable, processes_named, solution_source

from transformer_kit.sandbox import bubblewrap, cgroup, isolation
from transformer_kit.sandbox import process as sandbox

EXERCISE = "momentum_sgd"
NEIGHBOUR = "param_count"
WRONG = "\ndef sgd_step(w, grad, lr):\n    return w\n"
LEVELS = ["full", "basic"] if bubblewrap.available() else ["basic"]
ROOT = os.geteuid() == 0
X86_64 = platform.machine() == "x86_64"  # the system-call numbers the learner's code uses
NOBODY = 65534
PATIENCE = 120  # seconds a wait for a process to show up or go may take on a busy machine

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

# the learner's side: calls a hostile submission makes, each reported as NAME=RESULT/ERRNO
PROBE = """
import ctypes, os, threading
libc = ctypes.CDLL(None, use_errno=True)

def attempt(name, call, *args):
    result = call(*args)
    return f"{name}={result}/{ctypes.get_errno() if result == -1 else 0}"
"""


def _workspace(tmp_path: Path, source: str) -> Path:
    root = tmp_path / "workspace"
    (root / "exercises").mkdir(parents=True)
    (root / "exercises" / f"{EXERCISE}.py").write_text(source, encoding="utf-8")
    (root / "exercises" / f"{NEIGHBOUR}.py").write_text(solution_source(NEIGHBOUR))
    return root


def _kit(root: Path, *args: str, level: str = "full", prefix: tuple[str, ...] = (),
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    command = [*prefix, kit_executable(), "--workspace", str(root), *args]
    environment = {**os.environ, "KIT_ISOLATION": level, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=environment, cwd=root
    )


def _graded(done: subprocess.CompletedProcess[str]) -> tuple[dict[str, object], str]:
    """The --json document of a check of EXERCISE and NEIGHBOUR, and EXERCISE's first failure."""
    document = json.loads(done.stdout)
    graded, neighbour = document["exercises"]
    assert done.returncode == 1 and graded["score"] == 0.0
    assert neighbour["passed"], f"{NEIGHBOUR} must still be graded and pass"
    first = next(t["message"] for t in graded["tests"] if not t["passed"])
    return document, first


def _shmem_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no Shmem line in /proc/meminfo")


def _kit_groups() -> list[Path]:
    """Worker groups left in the kit's cgroup folders."""
    place = cgroup._place()
    return [] if place is None else [g for p in place[1] for g in p.glob(f"{cgroup.PREFIX}*")]


# ---- the isolation level as an object -------------------------------------------------------


def test_a_level_is_found_by_its_name_and_chosen_in_one_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isolation.named("full") == isolation.Full() and str(isolation.Full()) == "full"
    assert isolation.named("basic") == isolation.Basic()
    with pytest.raises(isolation.IsolationUnavailable, match="full, basic"):
        isolation.named("nothing")
    monkeypatch.setenv("KIT_ISOLATION", "basic")
    assert isolation.choose() == isolation.Basic()
    monkeypatch.setenv("KIT_ISOLATION", "")
    assert isolation.choose().name == LEVELS[0]
    assert isolation.Full.grades_classes and not isolation.Basic.grades_classes


# ---- the limits' enforcer in --json and the report ------------------------------------------


def test_the_report_says_what_was_weaker_than_the_best() -> None:
    from transformer_kit.cli import render
    from transformer_kit.results import CheckResult

    assert render._caveats(CheckResult((), "full", "cgroup")) == []
    weaker = render._caveats(CheckResult((), "basic", "watchdog"))
    assert [line.split(":")[0] for _, line in weaker] == ["isolation", "limits"]


@pytest.mark.skipif(not ROOT or cgroup.enforcer() != "cgroup", reason="cgroups need root")
def test_json_and_report_say_the_kernel_enforces_the_limits(tmp_path: Path) -> None:
    root = _workspace(tmp_path, solution_source(EXERCISE))
    document = json.loads(_kit(root, "check", "--json", EXERCISE, level=LEVELS[0]).stdout)
    assert document["limits"] == "cgroup" and document["isolation"] == LEVELS[0]
    assert document["exercises"][0]["passed"]
    assert "limits: watchdog" not in _kit(root, "check", EXERCISE, level=LEVELS[0]).stdout
    assert _kit_groups() == [], "every worker's group is removed with it"


# ---- System V shared memory --------------------------------------------------------------------

SHARED_MEMORY = (
    PROBE
    + """
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
CHUNK = 64 << 20
for _ in range(SIZE // CHUNK):  # one segment at a time: no process ever holds more than CHUNK
    segment = libc.shmget(0, ctypes.c_size_t(CHUNK), 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
    address = libc.shmat(segment, None, 0)
    ctypes.memset(ctypes.c_void_p(address), 1, CHUNK)  # every page is resident now
    libc.shmdt(ctypes.c_void_p(address))  # detached: no process shows it any more
"""
)


@pytest.mark.skipif(not ROOT or cgroup.enforcer() != "cgroup", reason="cgroups need root")
@pytest.mark.parametrize(("size", "phrase"), [(3 << 30, "memory limit"), (256 << 20, "sgd_step")])
def test_detached_shared_memory_counts_and_dies_with_the_worker(
    tmp_path: Path, size: int, phrase: str
) -> None:
    """3 GiB is over the 2 GiB limit: the kernel kills the worker (the watchdog sees no process
    holding more than 64 MiB of it). 256 MiB is under it: the worker answers wrongly, and the
    segments go with its IPC namespace. Either way the machine's shared memory is as it was."""
    root = _workspace(tmp_path, SHARED_MEMORY.replace("SIZE", str(size)) + WRONG)
    segments = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
    before = _shmem_bytes()
    _, first = _graded(_kit(root, "check", "--json", EXERCISE, NEIGHBOUR, level=LEVELS[0]))
    assert phrase in first, first
    assert _shmem_bytes() - before < size // 2, "the segment outlived the worker"
    assert subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout == segments
    assert _kit_groups() == []


# ---- denied system calls --------------------------------------------------------------------

DENIED_CALLS = (
    PROBE
    + """
def sgd_step(w, grad, lr):
    found = [
        attempt("fallocate", libc.fallocate, 1, 1, ctypes.c_long(0), ctypes.c_long(4 << 30)),
        attempt("unshare", libc.unshare, 0x10000000),  # CLONE_NEWUSER
        attempt("clone", libc.syscall, 56, 0x10000000 | 17, 0, 0, 0, 0),  # CLONE_NEWUSER|SIGCHLD
        attempt("setns", libc.setns, os.open("/proc/self/ns/uts", os.O_RDONLY), 0),
        f"output_blocks={os.fstat(1).st_blocks}",
    ]
    if found[2].startswith("clone=0/"):
        os._exit(0)  # the child of a clone that worked
    threads = [threading.Thread(target=len, args=("",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    found.append(f"threads={sum(t.ident is not None for t in threads)}")
    raise RuntimeError(" ".join(found))
"""
)


@pytest.mark.skipif(not X86_64, reason="the probe uses x86-64 system-call numbers")
@pytest.mark.parametrize("level", LEVELS)
def test_namespaces_and_fallocate_are_denied_and_threads_still_start(
    tmp_path: Path, level: str
) -> None:
    """As root too: no user namespace with every capability inside it; no disk reserved past
    the output file's size limit (fallocate with FALLOC_FL_KEEP_SIZE writes nothing)."""
    root = _workspace(tmp_path, DENIED_CALLS)
    _, first = _graded(_kit(root, "check", "--json", EXERCISE, NEIGHBOUR, level=level))
    expected = "fallocate=-1/1 unshare=-1/1 clone=-1/1 setns=-1/1 output_blocks=0 threads=8"
    assert expected in first, first


# ---- the output file cannot outlive the kit -------------------------------------------------

SLEEPER = (
    PROBE
    + """
libc.prctl(15, NAME, 0, 0, 0)  # PR_SET_NAME: how the test sees it runs
os.write(1, b"x" * 100_000)
import time
time.sleep(300)
"""
)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGKILL])
def test_nothing_is_left_in_tmpdir_when_kit_is_stopped(
    tmp_path: Path, level: str, ending: signal.Signals
) -> None:
    name = f"kt{os.getpid() % 100000}-{int(ending)}{level[0]}"  # at most 15 characters
    root = _workspace(tmp_path, SLEEPER.replace("NAME", repr(name.encode())) + WRONG)
    temporary = tmp_path / "tmpdir"
    temporary.mkdir()
    command = [kit_executable(), "--workspace", str(root), "check", "--json", EXERCISE]
    environment = {**os.environ, "KIT_ISOLATION": level, "TMPDIR": str(temporary)}
    kit = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
    try:
        _wait_until(lambda: bool(_running(name)), "the learner's code never started")
        kit.send_signal(ending)
        kit.wait(timeout=PATIENCE)
        _wait_until(lambda: not _running(name), "the worker outlived the kit")
        # the output file has no name; basic's working folder (empty here) does: see the README
        assert [p for p in temporary.rglob("*") if not p.is_dir()] == []
        assert level == "basic" or list(temporary.iterdir()) == []
    finally:
        for pid in processes_named(name):
            os.kill(pid, signal.SIGKILL)
        kit.kill()
        kit.wait()


def _running(name: str) -> list[int]:
    """Processes called `name` that are not zombies (this process may be a child subreaper after
    the in-process checks of other tests: what was killed is then reparented here, unreaped)."""
    running = []
    for pid in processes_named(name):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] != "Z":
            running.append(pid)
    return running


def _wait_until(condition: object, failure: str) -> None:
    done = threading.Event()
    for _ in range(PATIENCE * 20):
        if condition():  # type: ignore[operator]
            return
        done.wait(0.05)
    raise AssertionError(failure)


# ---- a thread storm as an ordinary user ------------------------------------------------------

STORM = """
import threading, time

def sgd_step(w, grad, lr):
    started = 0
    try:
        for _ in range(1000):
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
            started += 1
    except RuntimeError:
        pass
    raise RuntimeError(f"started {started} threads")
"""
# the kit as user nobody, in a private mount namespace where the folders of this Python that are
# under /root (which nobody may not enter) are shown again in a tmpfs on /root nobody may enter
AS_NOBODY = """
set -e
for hidden in $KIT_TEST_REVEAL; do
  mkdir -p "$KIT_TEST_STAGE/${hidden##*/}" && mount --bind "$hidden" "$KIT_TEST_STAGE/${hidden##*/}"
done
if [ -n "$KIT_TEST_REVEAL" ]; then
  mount -t tmpfs -o mode=755 tmpfs /root
  for hidden in $KIT_TEST_REVEAL; do
    mkdir -p "$hidden" && mount --bind "$KIT_TEST_STAGE/${hidden##*/}" "$hidden"
  done
fi
exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
"""


@pytest.fixture
def as_nobody(tmp_path: Path) -> Iterator[Path]:
    """A workspace folder user nobody owns, in a folder anyone may walk through (pytest's
    tmp_path is root's own); skips where the kit cannot run as nobody."""
    if not ROOT or not shutil.which("setpriv") or not shutil.which("unshare"):
        pytest.skip("needs root, setpriv and unshare to become an ordinary user")
    folder = Path(tempfile.mkdtemp(prefix="kit-nobody-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _kit_as_nobody(folder: Path, stage: Path, level: str) -> subprocess.CompletedProcess[str]:
    root = _workspace(folder, STORM)
    for path in [root, *root.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    python = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve()]
    hidden = {
        f"/root/{p.relative_to('/root').parts[0]}" for p in python if p.is_relative_to("/root")
    }
    stage.mkdir()
    prefix = ("unshare", "--mount", "--propagation", "private", "sh", "-c", AS_NOBODY, "sh")
    environment = {"KIT_TEST_REVEAL": " ".join(sorted(hidden)), "KIT_TEST_STAGE": str(stage),
                   "HOME": str(root)}  # fmt: skip
    return _kit(root, "check", "--json", EXERCISE, NEIGHBOUR, level=level, prefix=prefix,
                env=environment)  # fmt: skip


@pytest.mark.parametrize("level", LEVELS)
def test_a_thread_storm_of_an_ordinary_user_is_bounded(
    tmp_path: Path, level: str, as_nobody: Path
) -> None:
    """1000 threads asked for: RLIMIT_NPROC, set by the worker in its own user namespace, stops
    them at the process limit (counted in that namespace, not the user's other processes)."""
    document, first = _graded(_kit_as_nobody(as_nobody, tmp_path / "stage", level))
    started = int(first.split("started ")[1].split()[0])
    assert started < sandbox.Limits().processes, first
    assert document["limits"] == "watchdog"


# ---- the keyring -------------------------------------------------------------------------------

SECRET = "kit-keyring-secret-51c2"
KEYRING = (
    PROBE
    + """
SESSION, USER = -3, -4  # KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING

def sgd_step(w, grad, lr):
    key, keyring = KEY_ID, ctypes.create_string_buffer(4096)
    found = [
        attempt("search", libc.syscall, 250, 10, SESSION, b"user", b"kit-test-secret", 0),
        attempt("read", libc.syscall, 250, 11, key, keyring, 4096),  # KEYCTL_READ
        attempt("list", libc.syscall, 250, 11, SESSION, keyring, 4096),
        attempt("revoke", libc.syscall, 250, 3, key),  # KEYCTL_REVOKE
        attempt("plant", libc.syscall, 248, b"user", b"kit-planted", b"x", 1, SESSION),
        attempt("plant_user", libc.syscall, 248, b"user", b"kit-planted", b"x", 1, USER),
        attempt("join", libc.syscall, 250, 1, b"kit-test-ring"),  # KEYCTL_JOIN_SESSION_KEYRING
    ]
    raise RuntimeError(" ".join(found) + " " + keyring.value.decode("latin-1"))
"""
)
# a login session's keyring (pam_keyinit makes one) holding a secret, the kit run in it, then
# what the session holds afterwards
IN_A_SESSION = """
set -e
key=$(keyctl add user kit-test-secret "$KIT_TEST_SECRET" @s)
sed "s/KEY_ID/$key/" "$KIT_TEST_TEMPLATE" > "$KIT_TEST_FILE"
"$@" > "$KIT_TEST_OUT" || true
keyctl print "$key"
! keyctl search @s user kit-planted 2>/dev/null
! keyctl search @u user kit-planted 2>/dev/null
"""


@pytest.mark.skipif(not shutil.which("keyctl"), reason="needs keyctl (apt-get install keyutils)")
@pytest.mark.skipif(not X86_64, reason="the probe uses x86-64 system-call numbers")
@pytest.mark.parametrize("level", LEVELS)
def test_the_keyring_of_the_session_is_out_of_reach(tmp_path: Path, level: str) -> None:
    root = _workspace(tmp_path, "")
    template, out = tmp_path / "template.py", tmp_path / "out.json"
    template.write_text(KEYRING, encoding="utf-8")
    command = [kit_executable(), "--workspace", str(root), "check", "--json", EXERCISE, NEIGHBOUR]
    learner = root / "exercises" / f"{EXERCISE}.py"
    environment = {
        **os.environ, "KIT_ISOLATION": level, "KIT_TEST_SECRET": SECRET, "KIT_TEST_OUT": str(out),
        "KIT_TEST_TEMPLATE": str(template), "KIT_TEST_FILE": str(learner),
    }  # fmt: skip
    session = ["keyctl", "session", "-", "sh", "-c", IN_A_SESSION, "sh", *command]
    done = subprocess.run(session, capture_output=True, text=True, env=environment, timeout=600)
    assert done.returncode == 0, f"the secret was revoked or a key planted: {done.stderr}"
    assert done.stdout.strip() == SECRET, "the secret is still there, unchanged"
    text = out.read_text(encoding="utf-8")
    assert SECRET not in text
    _, first = _graded(subprocess.CompletedProcess([], 1, text, ""))
    calls = ("search", "read", "list", "revoke", "plant", "plant_user", "join")
    assert " ".join(f"{call}=-1/1" for call in calls) in first, first


# ---- the worker's group, read from outside -------------------------------------------------------


@pytest.mark.skipif(cgroup.enforcer() != "cgroup", reason="cgroups need root")
def test_the_worker_group_measures_memory_from_outside(make_workspace) -> None:
    from transformer_kit.sandbox.client import Sandboxed, Target

    big = "\nimport numpy as _np\n_big = _np.ones(300 * 2**20 // 8)\ndel _big\n"
    root = make_workspace({"attention": solution_source("attention") + big})
    path = root / "exercises" / "attention.py"
    sandboxed = Sandboxed(Target("attention", path, sandbox.Limits(), isolation.choose()))
    try:
        sandboxed.begin_test(60.0)
        sandboxed.student().causal_mask(3)  # the module is loaded: the 300 MiB came and went
        assert sandboxed.worker is not None and sandboxed.worker.cgroup is not None
        group = sandboxed.worker.cgroup
        peak = group.memory_peak_bytes()
        assert peak > 300 * 2**20
        group.reset_memory_peak()
        assert group.memory_peak_bytes() < peak - 200 * 2**20
    finally:
        sandboxed.close()
    assert not any(folder.exists() for folder in group.folders), "removed with the worker"
