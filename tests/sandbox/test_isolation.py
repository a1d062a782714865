"""Full isolation (bubblewrap): the attacks a hostile learner tried, each through the real `kit`.

Every case is a momentum_sgd submission whose code attacks the grading and then answers wrongly,
graded by `kit check --json` in a subprocess with param_count (solved) beside it. An attack that
worked would show: a passing or unparsable report, a secret in the output, a changed file outside
the worker's scratch folder (the installed kit, site-packages, the standard library, a canary
folder, the workspace), a process or a connection left behind, or a later check of the untouched
stub scoring more than 0. Each of those is asserted after every case.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy
import pytest
from support import INSTALLED, REPO, kit_executable, solution_source

from transformer_kit import catalog as meta
from transformer_kit import check as grading
from transformer_kit.sandbox import bubblewrap, isolation
from transformer_kit.sandbox import process as sandbox

EXERCISE = "momentum_sgd"
NEIGHBOUR = "param_count"
SECRET = "kit-test-secret-7f3a9c"  # in the canary file and in the kit's environment
SITE = Path(numpy.__file__).resolve().parents[1]
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
GRADER = meta.load()[[e.name for e in meta.load()].index(EXERCISE)].grader
SOLUTION = GRADER.parents[1] / "solutions" / f"{EXERCISE}.py"
WRONG = "\ndef sgd_step(w, grad, lr):\n    return w\n"
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # in any message

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="full isolation is for Linux"
)


def test_full_isolation_is_available_here() -> None:
    """The rest of this file would prove nothing at the basic level: bwrap must work."""
    assert bubblewrap.available(), "install bubblewrap (apt-get install -y bubblewrap)"


@dataclass(frozen=True)
class Attack:
    name: str
    code: str  # {PORT}, and {CANARY!r} {GRADER!r} {SOLUTION!r} {SITE!r} as quoted paths
    phrase: str = ""  # in the first failed test's message
    answer: str = WRONG  # what follows the attack: a wrong sgd_step, so the attack must win


ATTACKS = [
    Attack(
        "rewrite the installed grader",
        """
        import pathlib, transformer_kit
        targets = [pathlib.Path({GRADER!r})]
        for folder in transformer_kit.__path__:
            targets.append(pathlib.Path(folder, "graders", "test_momentum_sgd.py"))
        for target in targets:
            try:
                target.write_text("def test_nothing():\\n    pass\\n")
            except OSError:
                pass
        """,
        "values wrong",
    ),
    Attack(
        "a .pth start-up hook in site-packages",
        """
        import site
        for folder in [*site.getsitepackages(), {SITE!r}]:
            try:
                with open(folder + "/zz_kit_hook.pth", "w") as stream:
                    stream.write("import os; os.environ['KIT_HOOKED'] = '1'\\n")
            except OSError:
                pass
        """,
        "values wrong",
    ),
    Attack(
        "patch the installed numpy",
        """
        import numpy
        try:
            with open(numpy.__file__, "a") as stream:
                stream.write("\\nallclose = lambda *a, **k: True\\n")
        except OSError:
            pass
        """,
        "values wrong",
    ),
    Attack(
        "import or find and exec the reference solution",
        """
        import os
        try:
            from transformer_kit.solutions.momentum_sgd import *
        except ImportError:
            pass
        for path in [{SOLUTION!r}]:
            try:
                exec(open(path).read())
            except OSError:
                pass
        import sys, transformer_kit
        guesses = [os.path.join(p, "transformer_kit/solutions/momentum_sgd.py") for p in sys.path]
        for folder in transformer_kit.__path__:
            for up in (folder, os.path.dirname(folder), os.path.dirname(os.path.dirname(folder))):
                guesses.append(os.path.join(up, "solutions", "momentum_sgd.py"))
        for top in ("/root", "/home", "/work", "/tmp", "/opt", "/srv"):
            for folder, folders, files in os.walk(top):
                if folder.count("/") > 6 or "site-packages" in folder:
                    folders.clear()
                if "momentum_sgd.py" in files and folder != os.path.dirname(__file__):
                    guesses.append(os.path.join(folder, "momentum_sgd.py"))
        for path in guesses:
            try:
                exec(open(path).read())
            except (OSError, SyntaxError):
                pass
        """,
        "does not define `sgd_step`",
        answer="",  # whatever it found is the answer: without it, nothing is defined
    ),
    Attack(
        "conftest.py and pytest.ini above the graders and in the workspace",
        """
        import os, pathlib
        hook = "def pytest_runtest_makereport(item, call):\\n    call.excinfo = None\\n"
        grader = pathlib.Path({GRADER!r})
        folders = [*grader.parents[:3], pathlib.Path(__file__).parents[1], os.getcwd()]
        ini = "[pytest]\\naddopts = -p no:kit\\n"
        for folder in folders:
            for name, text in (("conftest.py", hook), ("pytest.ini", ini)):
                try:
                    pathlib.Path(folder, name).write_text(text)
                except OSError:
                    pass
        """,
        "values wrong",
    ),
    Attack(
        "mark every exercise passed in .kit, or make .kit a link",
        """
        import json, os, pathlib
        state = pathlib.Path(__file__).parents[1] / ".kit"
        record = {"best_score": 6.0, "max_score": 6.0, "passed_at": "2020-01-01", "hints_shown": 0}
        try:
            state.mkdir(exist_ok=True)
            store = {"format_version": 1, "exercises": {"momentum_sgd": record}}
            (state / "progress.json").write_text(json.dumps(store))
        except OSError:
            pass
        try:
            os.symlink("/tmp", state)
        except OSError:
            pass
        """,
        "values wrong",
    ),
    Attack(
        "read files and variables outside the workspace and carry them out",
        """
        import os
        found = []
        paths = ({CANARY!r} + "/secret.txt", "/etc/shadow", "/etc/hostname", "/root/.bash_history")
        for path in paths:
            try:
                found.append(open(path).read())
            except OSError as error:
                found.append(type(error).__name__)
        found += [k + "=" + v for k, v in os.environ.items()]
        def sgd_step(w, grad, lr):
            raise RuntimeError("carried out: " + " | ".join(found))
        """,
        "carried out: FileNotFoundError",
        answer="",
    ),
    Attack(
        "connect to a server on 127.0.0.1",
        """
        import socket
        def sgd_step(w, grad, lr):
            try:
                socket.create_connection(("127.0.0.1", {PORT}), timeout=1).sendall(b"hello")
            except OSError as error:
                raise RuntimeError("no connection: " + type(error).__name__)
            return w
        """,
        "no connection",
        answer="",
    ),
    Attack(
        "unmount /proc and reach other processes",
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        unmounted = libc.umount2(b"/proc", 2)
        reached = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    os.listdir(f"/proc/{entry}/fd")
                    with open(f"/proc/{entry}/fd/1", "w") as stream:
                        stream.write('{"score": 6.0}')
                    reached.append(entry)
                except OSError:
                    pass
        def sgd_step(w, grad, lr):
            raise RuntimeError(f"umount2 returned {unmounted}; reached={reached}")
        """,
        "umount2 returned -1; reached=[]",
        answer="",
    ),
    Attack(
        "fill /tmp with 2047 files of 1 MiB",
        """
        written = 0
        for number in range(2047):
            try:
                with open(f"/tmp/kit-hostile-fill-{number}", "wb") as stream:
                    stream.write(b"x" * 1024**2)
                written += 1
            except OSError:
                break
        def sgd_step(w, grad, lr):
            raise RuntimeError(f"wrote {written} MiB")
        """,
        "wrote 6",  # 60-odd of them: the scratch folder holds 64 MiB
        answer="",
    ),
    Attack(
        "a fork bomb",
        """
        import os, time
        def sgd_step(w, grad, lr):
            while True:
                try:
                    if os.fork() == 0:
                        time.sleep(60)
                        os._exit(0)
                except OSError:
                    pass  # keep trying: CPU time runs out
        """,
        "limit",
        answer="",
    ),
    Attack(
        "an exception class whose name is 30 MB",
        """
        def sgd_step(w, grad, lr):
            raise type("E" * 30_000_000, (Exception,), {})("x" * 30_000_000)
        """,
        "more characters",
        answer="",
    ),
    Attack(
        "a lone surrogate and terminal escapes in a message",
        """
        def sgd_step(w, grad, lr):
            raise RuntimeError("\\ud800 \\x1b[2J\\x1b]0;owned\\x07\\r\\x9b31m fake PASSED")
        """,
        "fake PASSED",
        answer="",
    ),
]


# RLIMIT_DATA does not see these: the watchdog on the whole process tree must. With the default
# 2 GiB they run into the time limit first on a slow machine, so they run with a small limit.
SMALL_MEMORY = sandbox.Limits(memory_bytes=256 * 1024**2)
MEMORY_ATTACKS = [
    Attack(
        "a 1 GiB shared anonymous mmap",
        """
        import mmap
        def sgd_step(w, grad, lr):
            size = 1024**3
            block = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
            chunk = b"x" * 2**26
            for _ in range(size // len(chunk)):
                block.write(chunk)
            return w
        """,
        "memory limit",
        answer="",
    ),
    Attack(
        "forked children holding memory",
        """
        import os, time
        def sgd_step(w, grad, lr):
            for _ in range(4):
                if os.fork() == 0:
                    hoard = bytearray(100 * 1024**2)
                    for offset in range(0, len(hoard), 4096):
                        hoard[offset] = 1
                    time.sleep(60)
                    os._exit(0)
            time.sleep(60)
            return w
        """,
        "memory limit",
        answer="",
    ),
]


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A server on 127.0.0.1 that records every connection it gets."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                received.append(connection.recv(100) or b"(connected)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    done.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another folder on the same disk (another student's, say), with a secret in it."""
    folder = tmp_path_factory.mktemp("canary")
    (folder / "secret.txt").write_text(SECRET)
    (folder / "attention.py").write_text("# another student's work\n")
    return folder


@pytest.fixture(scope="module")
def whole_installation() -> Iterator[None]:
    """Every file of site-packages, the standard library and the kit: unchanged by the module."""
    before = _fingerprint([SITE, STDLIB, INSTALLED, GRADER.parents[1]])
    yield
    after = _fingerprint([SITE, STDLIB, INSTALLED, GRADER.parents[1]])
    assert sorted(set(before.items()) ^ set(after.items()))[:10] == []


def fill(code: str, **values: object) -> str:
    """The attack's code with its placeholders replaced (quoted with !r)."""
    code = textwrap.dedent(code)
    for name, value in values.items():
        code = code.replace(f"{{{name}!r}}", repr(str(value))).replace(f"{{{name}}}", str(value))
    return code


def _fingerprint(roots: list[Path], content: bool = False) -> dict[str, tuple[object, ...]]:
    """Path -> (type, size, modification time[, sha256]) of everything under `roots`."""
    seen: dict[str, tuple[object, ...]] = {}
    for root in roots:
        for folder, folders, files in os.walk(root):
            folders[:] = [f for f in folders if f not in ("__pycache__", ".kit", ".git")]
            for name in [*folders, *files]:
                path = os.path.join(folder, name)
                status = os.lstat(path)
                entry: tuple[object, ...] = (status.st_mode, status.st_size, status.st_mtime_ns)
                if content and name in files and os.path.isfile(path):
                    entry += (hashlib.sha256(Path(path).read_bytes()).hexdigest(),)
                seen[path] = entry
    return seen


def _near_roots(root: Path, canary: Path) -> dict[str, tuple[object, ...]]:
    """What each attack aims at, checked after every case (the kit's package by content)."""
    shallow = [SITE, STDLIB, Path(numpy.__file__).parent, *GRADER.parents[:3], root]
    listing = {
        str(p): (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns)
        for folder in shallow
        for p in folder.iterdir()
        if p.name != ".kit"
    }
    return {**listing, **_fingerprint([INSTALLED, GRADER.parent, canary, root], content=True)}


def _descendants() -> set[int]:
    """Live processes under this one (the kit's, or anything its workers left behind)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            state, parent = text[text.rfind(")") + 2 :].split()[:2]
            if state != "Z":
                parents[int(entry.name)] = int(parent)
    ours, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - ours
        ours |= frontier
    return ours


def _left_behind(before: set[int]) -> list[str]:
    """Command lines of the processes under this one that were not there `before`."""
    found = []
    for pid in sorted(_descendants() - before):
        try:
            found.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
        except OSError:
            continue
    return found


def run_kit(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, bytes, int]:
    """`kit` in a subprocess: exit status, stdout bytes, and the largest resident size (KiB) of
    any process it ran (the grading process and, reaped by it, its workers)."""
    probe = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], capture_output=True); "
        "sys.stdout.buffer.write(done.stdout); sys.stderr.buffer.write(done.stderr); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(done.returncode)"
    )
    command = [sys.executable, "-c", probe, kit_executable(), "--workspace", str(root), *args]
    environment = {**os.environ, "KIT_ISOLATION": "full", "NO_COLOR": "1", **(env or {})}
    done = subprocess.run(command, capture_output=True, timeout=300, env=environment, cwd=root)
    return done.returncode, done.stdout, int(done.stderr.strip().splitlines()[-1])


def _submission(tmp_path: Path, source: str) -> Path:
    root = tmp_path / "workspace"
    (root / "exercises").mkdir(parents=True)
    (root / "exercises" / f"{EXERCISE}.py").write_text(source, encoding="utf-8")
    (root / "exercises" / f"{NEIGHBOUR}.py").write_text(solution_source(NEIGHBOUR))
    return root


@pytest.mark.usefixtures("whole_installation")
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_fails_and_changes_nothing(
    attack: Attack, tmp_path: Path, listener: tuple[int, list[bytes]], canary: Path
) -> None:
    port, received = listener
    code = fill(attack.code, PORT=port, CANARY=canary, GRADER=GRADER, SOLUTION=SOLUTION, SITE=SITE)
    root = _submission(tmp_path, f"{code}\n{attack.answer}")
    before = _near_roots(root, canary)
    processes = _descendants()
    status, stdout, _ = run_kit(root, "check", EXERCISE, NEIGHBOUR, "--json",
                                env={"KIT_TEST_SECRET": SECRET})  # fmt: skip
    document = json.loads(stdout.decode("utf-8"))  # strict: valid UTF-8 and one JSON document
    assert status == 1
    assert document["isolation"] == "full"
    graded, neighbour = document["exercises"]
    assert neighbour["passed"], f"{NEIGHBOUR} must still be graded and pass"
    assert graded["score"] == 0.0
    first = next(t["message"] for t in graded["tests"] if not t["passed"])
    assert attack.phrase in first, first
    assert len(stdout) < 256 * 1024, "every message is bounded"
    assert SECRET.encode() not in stdout
    assert not [m for m in _messages(document) if FORBIDDEN.search(m)], "control characters"
    assert _near_roots(root, canary) == before, "a file outside the scratch folder changed"
    assert _left_behind(processes) == [], "a process outlived the check"
    assert received == [], "the learner's code reached a server on 127.0.0.1"
    assert not list(Path("/tmp").glob("kit-hostile-*")), "files were left in /tmp"
    progress = json.loads((root / ".kit" / "progress.json").read_text())
    assert progress["exercises"][EXERCISE]["passed_at"] is None
    _assert_stub_scores_zero(tmp_path)


def _messages(document: dict) -> list[str]:
    return [t["message"] for e in document["exercises"] for t in e["tests"]]


def _assert_stub_scores_zero(tmp_path: Path) -> None:
    """A later check of the untouched stub: every grader still runs, and still fails it."""
    stub = meta.load()[[e.name for e in meta.load()].index(EXERCISE)].stub
    later = _submission(tmp_path / "later", stub.read_text())
    status, stdout, _ = run_kit(later, "check", EXERCISE, "--json")
    (exercise,) = json.loads(stdout)["exercises"]
    assert status == 1 and exercise["score"] == 0.0 and len(exercise["tests"]) >= 10


@pytest.mark.parametrize("linked", ["the exercise file", "the exercises folder"])
def test_a_workspace_linked_to_the_reference_is_not_graded_as_it(
    linked: str, tmp_path: Path
) -> None:
    """The target of a linked exercise file or folder is bound into the sandbox (a learner may
    keep them elsewhere: a copy of the reference linked in passes), but never when it lies in
    the kit's solutions/ or graders/, which stay masked wherever the package finds them: in the
    installed package, or at the top of a source checkout (`pip install -e .`)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(SOLUTION, elsewhere / SOLUTION.name)
    scores = {}
    for name, folder in (("a copy", elsewhere), ("the kit's", SOLUTION.parent)):
        root = _submission(tmp_path / name, "")
        if linked == "the exercise file":
            (root / "exercises" / SOLUTION.name).unlink()
            (root / "exercises" / SOLUTION.name).symlink_to(folder / SOLUTION.name)
        else:
            shutil.rmtree(root / "exercises")
            (root / "exercises").symlink_to(folder)
        status, stdout, _ = run_kit(root, "check", EXERCISE, "--json")
        (graded,) = json.loads(stdout)["exercises"]
        scores[name] = (status, graded["score"] / graded["max_score"])
    assert scores == {"a copy": (0, 1.0), "the kit's": (1, 0.0)}


def test_no_bind_holds_the_kits_masked_folders(tmp_path: Path) -> None:
    """An exercises/ linked to a folder that holds the kit's solutions (site-packages, a
    checkout) would show them at the link's path, where the masks do not reach: such a folder
    adds no bind to the sandbox, nor does one inside the masks; a folder elsewhere does."""

    def binds(visible: list[Path]) -> set[str]:
        args = bubblewrap.command("bwrap", visible, scratch_bytes=1024**2)
        return {args[i + 1] for i, arg in enumerate(args) if arg == "--ro-bind"}

    holders = [SOLUTION.parents[1], SOLUTION.parents[2], SOLUTION.parents[3]]
    inside = [SOLUTION.parent, GRADER.parent / "fixtures"]
    assert binds([*holders, *inside]) == binds([])
    assert binds([tmp_path]) == binds([]) | {str(tmp_path)}


@pytest.mark.parametrize("attack", MEMORY_ATTACKS, ids=[a.name for a in MEMORY_ATTACKS])
def test_memory_of_the_whole_process_tree_is_bounded(attack: Attack, tmp_path: Path) -> None:
    root = _submission(tmp_path, fill(attack.code))
    exercises = meta.resolve([EXERCISE, NEIGHBOUR], meta.load())
    processes = _descendants()
    result = grading.check(root, exercises, SMALL_MEMORY, level=isolation.Full())
    graded, neighbour = result.exercises
    assert neighbour.passed and graded.score == 0.0
    first = next(t for t in graded.tests if not t.passed)
    assert "memory limit" in first.message and "processes together" in first.message
    assert _left_behind(processes) == []


def test_the_grading_process_reads_no_configuration_of_the_learner(tmp_path: Path) -> None:
    """conftest.py, pytest.ini, pyproject.toml and PYTEST_* variables that would pass every test,
    in the workspace, the current folder and the folders above the installed graders."""
    root = _submission(tmp_path, WRONG)
    hook = "def pytest_runtest_makereport(item, call):\n    call.excinfo = None\n"
    planted = []
    installed = {folder: os.stat(folder).st_mtime_ns for folder in GRADER.parents[:2]}
    for folder in (root, root / "exercises", *GRADER.parents[:2]):
        for name, text in (
            ("conftest.py", hook),
            ("pytest.ini", "[pytest]\naddopts = -p no:python\n"),
        ):
            path = folder / name
            if not path.exists():
                path.write_text(text)
                planted.append(path)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:python'\n")
    try:
        status, stdout, _ = run_kit(
            root, "check", EXERCISE, "--json",
            env={"PYTEST_ADDOPTS": "-p no:python", "PYTEST_PLUGINS": "no_such_plugin"},
        )  # fmt: skip
    finally:
        for path in planted:
            path.unlink()
        for folder, mtime in installed.items():  # as it was: whole_installation compares
            os.utime(folder, ns=(mtime, mtime))
    (exercise,) = json.loads(stdout)["exercises"]
    assert status == 1 and not exercise["passed"] and len(exercise["tests"]) >= 10
    assert "values wrong" in next(t["message"] for t in exercise["tests"] if not t["passed"])


def test_a_kit_link_made_by_hand_is_refused(tmp_path: Path) -> None:
    root = _submission(tmp_path, solution_source(EXERCISE))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / ".kit").symlink_to(elsewhere)
    done = subprocess.run(
        [kit_executable(), "--workspace", str(root), "check", EXERCISE],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a symbolic link" in done.stderr
    assert list(elsewhere.iterdir()) == []


def test_terminal_report_of_a_hostile_message_is_clean(tmp_path: Path) -> None:
    root = _submission(tmp_path, fill(ATTACKS[-1].code))
    status, stdout, _ = run_kit(root, "check", EXERCISE)
    text = stdout.decode("utf-8")
    assert status == 1 and "fake PASSED" in text
    assert "Traceback" not in text and "\x1b" not in text and "\r" not in text


def test_the_grading_process_stays_small_against_huge_messages(tmp_path: Path) -> None:
    attack = next(a for a in ATTACKS if "30 MB" in a.name)
    root = _submission(tmp_path, fill(attack.code))
    status, stdout, peak_kib = run_kit(root, "check", EXERCISE, "--json")
    assert status == 1 and len(stdout) < 256 * 1024
    assert peak_kib < 512 * 1024, f"the grading process reached {peak_kib} KiB"


def test_a_slow_first_call_costs_only_its_own_test(tmp_path: Path) -> None:
    """Correct code that is slow on the hand example only: one time-out, every other test runs
    (a cached function of the worker that timed out must not fail the later tests)."""
    source = solution_source(EXERCISE) + textwrap.dedent(
        """
        import time as _time
        _reference_sgd_step = sgd_step
        def sgd_step(w, grad, lr):
            if w.ravel().tolist() == [1.0, -2.0] and lr == 0.1:
                started = _time.monotonic()
                while _time.monotonic() < started + 30:  # busy: CPU time runs out at 3 s
                    pass
            return _reference_sgd_step(w, grad, lr)
        """
    )
    root = _submission(tmp_path, source)
    status, stdout, _ = run_kit(root, "check", EXERCISE, "--json")
    (exercise,) = json.loads(stdout)["exercises"]
    failed = [t for t in exercise["tests"] if not t["passed"]]
    assert status == 1
    assert [t["name"] for t in failed] == ["sgd_step on hand examples"], failed
    assert "time limit" in failed[0]["message"]


def test_a_venv_inside_the_workspace_with_an_editable_install(tmp_path: Path) -> None:
    """The README's clone layout: the checkout is the workspace and holds the venv. Learner
    code can still change nothing there, and a later check of the stub scores 0."""
    repository = REPO
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=repository, capture_output=True, text=True,
    )  # fmt: skip
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the clone layout needs one")
    clone = tmp_path / "clone"
    for name in listed.stdout.splitlines():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repository / name, clone / name)
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-e", str(clone)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    plant = next(a for a in ATTACKS if a.name.startswith("conftest.py")).code
    find = next(a for a in ATTACKS if a.name.startswith("import")).code
    code = fill(plant, GRADER=clone / "graders" / GRADER.name)
    code += fill(find, SOLUTION=clone / "solutions" / f"{EXERCISE}.py")
    (clone / "exercises" / f"{EXERCISE}.py").write_text(code)
    before = _fingerprint([clone], content=True)
    processes = _descendants()
    kit = str(venv / "bin" / "kit")
    environment = {**os.environ, "KIT_ISOLATION": "full", "NO_COLOR": "1"}
    done = subprocess.run([kit, "check", EXERCISE, "--json"], cwd=clone, capture_output=True,
                          text=True, env=environment, timeout=300)  # fmt: skip
    document = json.loads(done.stdout)
    assert document["isolation"] == "full" and not document["exercises"][0]["passed"]
    after = _fingerprint([clone], content=True)
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert changed == [], changed
    stub = f"exercises/{EXERCISE}.py"
    shutil.copyfile(repository / stub, clone / stub)
    done = subprocess.run([kit, "check", EXERCISE, "--json"], cwd=clone, capture_output=True,
                          text=True, env=environment, timeout=300)  # fmt: skip
    assert json.loads(done.stdout)["exercises"][0]["score"] == 0.0
    assert _left_behind(processes) == []
