"""`kit grade` (cli.md "`kit grade`"): a generated class of 40 submissions graded through the real
`kit`, locally and on a real Dask cluster (`dask scheduler`, `dask worker` on 127.0.0.1).

The class mixes references, catalogue wrong and right versions, stubs, missing files, the odd
layouts a real class produces and two hostile submissions. Every student's grades must equal what
`kit check --json` gives the same files in a workspace of their own.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support import EXERCISES, kit_executable, solution_source

from transformer_kit.batch import submissions as finding

ATT, MOM = "attention", "momentum_sgd"
NAMES = (MOM, ATT)  # the catalogue's order, which the CSV's columns follow
BY_NAME = {e.name: e for e in EXERCISES}
MARK = "KIT_GRADE_TEST_MARK"  # put in kit grade's environment, to find processes it left


@dataclass
class Student:
    """A generated submission: how to lay it out, and the files `kit check` is to be compared
    on (what the student's workspace would hold)."""

    name: str
    layout: dict[str, bytes] = field(default_factory=dict)  # relative path -> bytes
    graded: dict[str, bytes] = field(default_factory=dict)  # exercise -> bytes kit check sees
    links: dict[str, Path] = field(default_factory=dict)  # relative path -> link target


def _source(name: str) -> bytes:
    return solution_source(name).encode()


def _stub(name: str) -> bytes:
    return BY_NAME[name].stub.read_bytes()


def _variants(name: str, passes: bool) -> list:
    module = importlib.import_module(f"catalogue.{name}")
    return [v for v in module.VARIANTS if v.passes == passes]


def _plain(name: str, files: dict[str, bytes], inside: str = "") -> Student:
    layout = {f"{inside}{exercise}.py": data for exercise, data in files.items()}
    return Student(name, layout, dict(files))


def hostile_reader(class_folder: Path, out: Path) -> bytes:
    """The attention stub, then code that takes another student's reference and writes into the
    results, which full isolation makes impossible (then it scores 0, like the stub)."""
    attack = f"""

try:
    exec(open({str(class_folder / "ref-01" / "attention.py")!r}).read())
except OSError:
    pass
for target in ({str(out / "results" / "ref-01.json")!r}, {str(out / "grades.csv")!r}):
    try:
        open(target, "w").write("forged")
    except OSError:
        pass
"""
    return _stub(ATT) + attack.encode()


FORK_STORM = b"""
import os, sys, time
for _ in range(1000):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    except OSError:
        break
sys.exit(0)
"""


def generate_class(folder: Path, out: Path, outside: Path) -> dict[str, Student]:
    """40 submissions in `folder` (one folder per student); `outside` holds a file a symbolic
    link points to."""
    ref = {ATT: _source(ATT), MOM: _source(MOM)}
    students = [
        *(_plain(f"ref-0{i}", ref, "exercises/" if i % 2 else "") for i in range(1, 7)),
        *(
            _plain(f"wrong-att-{i}", {ATT: v.source(solution_source(ATT)).encode(), MOM: ref[MOM]})
            for i, v in enumerate(_variants(ATT, passes=False)[:8])
        ),
        *(
            _plain(
                f"same-mistake-{i}",
                {ATT: _variants(ATT, False)[0].source(solution_source(ATT)).encode()},
            )
            for i in range(2)
        ),
        *(
            _plain(
                f"wrong-mom-{i}", {MOM: v.source(solution_source(MOM)).encode(), ATT: _stub(ATT)}
            )
            for i, v in enumerate(_variants(MOM, passes=False)[:6])
        ),
        *(
            _plain(f"right-{name}-{i}", {name: v.source(solution_source(name)).encode()})
            for name in NAMES
            for i, v in enumerate(_variants(name, passes=True)[:2])
        ),
        *(_plain(f"stub-{i}", {ATT: _stub(ATT), MOM: _stub(MOM)}) for i in range(3)),
        _plain("missing-mom-1", {ATT: ref[ATT]}),
        _plain("missing-mom-2", {ATT: ref[ATT]}, "exercises/"),
        _plain("missing-att", {MOM: ref[MOM]}),
        Student(
            "copy-named",
            {"attention (1).py": ref[ATT], "momentum_sgd.py": ref[MOM]},
            {MOM: ref[MOM]},
        ),
        Student("nested", {"hw1/attention.py": ref[ATT], "hw1/momentum_sgd.py": ref[MOM]}, ref),
        Student(
            "notebook", {"attention.ipynb": b"{}", "momentum_sgd.py": ref[MOM]}, {MOM: ref[MOM]}
        ),
        Student("empty"),
        Student(
            "latin-1",
            {"attention.py": b"# caf\xe9\n" + ref[ATT], "momentum_sgd.py": ref[MOM]},
            {ATT: b"# caf\xe9\n" + ref[ATT], MOM: ref[MOM]},
        ),
        Student(
            "linked",
            {"momentum_sgd.py": ref[MOM]},
            {MOM: ref[MOM]},
            {"attention.py": outside / "attention.py"},
        ),
        _plain("hostile-reader", {ATT: hostile_reader(folder, out), MOM: ref[MOM]}),
        _plain("hostile-forks", {ATT: FORK_STORM, MOM: ref[MOM]}),
    ]
    assert len(students) == 40, len(students)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "attention.py").write_bytes(ref[ATT])
    for student in students:
        root = folder / student.name
        root.mkdir(parents=True)
        for relative, data in student.layout.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(data)
        for relative, target in student.links.items():
            (root / relative).symlink_to(target)
    return {s.name: s for s in students}


def kit(*args: str, cwd: Path, mark: str = "", timeout: float = 900) -> subprocess.CompletedProcess:
    environment = {**os.environ, "KIT_ISOLATION": "full", "NO_COLOR": "1", MARK: mark or "-"}
    return subprocess.run(
        [kit_executable(), *args], capture_output=True, text=True, cwd=cwd, env=environment,
        timeout=timeout,
    )  # fmt: skip


@dataclass
class Graded:
    folder: Path
    out: Path
    students: dict[str, Student]
    run: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    base = tmp_path_factory.mktemp("grade")
    folder, out = base / "class", base / "grades"
    students = generate_class(folder, out, base / "outside")
    done = kit("grade", str(folder), "--out", str(out), "-j", "2", "--json", cwd=base)
    return Graded(folder, out, students, done)


def rows(out: Path) -> dict[str, dict[str, str]]:
    text = (out / "grades.csv").read_text(encoding="utf-8")
    return {row["student"]: row for row in csv.DictReader(io.StringIO(text))}


def result(out: Path, student: str) -> dict:
    return json.loads((out / "results" / f"{student}.json").read_text(encoding="utf-8"))


def kit_check(student: Student, workspace: Path) -> dict:
    """`kit check --json` of the student's files in a workspace of their own."""
    (workspace / "exercises").mkdir(parents=True)
    for exercise, data in student.graded.items():
        (workspace / "exercises" / f"{exercise}.py").write_bytes(data)
    done = kit("--workspace", str(workspace), "check", *NAMES, "--json", cwd=workspace)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_the_class_is_graded_and_the_csv_has_the_contract_columns(graded: Graded) -> None:
    assert graded.run.returncode == 0, graded.run.stderr
    header = (graded.out / "grades.csv").read_text().splitlines()[0]
    assert header == "student,score,max_score,momentum_sgd,attention"
    assert sorted(rows(graded.out)) == sorted(graded.students)
    summary = json.loads(graded.run.stdout)
    assert summary == json.loads((graded.out / "summary.json").read_text())
    assert summary["students"] == 40 and summary["failed"] == []


def test_every_student_gets_what_kit_check_gives_the_same_files(
    graded: Graded, tmp_path: Path
) -> None:
    table = rows(graded.out)
    for name, student in graded.students.items():
        expected = kit_check(student, tmp_path / name)
        got = result(graded.out, name)
        row = table[name]
        assert float(row["score"]) == expected["score"], name
        assert float(row["max_score"]) == expected["max_score"], name
        for want, have in zip(expected["exercises"], got["exercises"], strict=True):
            assert float(row[want["name"]]) == want["score"], (name, want["name"])
            assert have["passed"] == want["passed"], (name, want["name"])
            if want["name"] in student.graded:  # a missing file's message names its own path
                assert have["tests"] == want["tests"], (name, want["name"])
        assert got["student"] == name and got["isolation"] == "full"


def test_references_pass_and_broken_submissions_score_zero(graded: Graded) -> None:
    table = rows(graded.out)
    for name in ("ref-01", "ref-02", "nested"):
        assert table[name]["score"] == table[name]["max_score"] == "16", name
    for name in ("stub-0", "empty"):
        assert table[name]["score"] == "0", name
    assert table["hostile-reader"]["attention"] == "0", "it read another student's reference"
    assert table["hostile-forks"]["attention"] == "0"
    assert table["hostile-forks"]["momentum_sgd"] == "6", "a neighbour's fork storm cost a grade"
    assert table["linked"]["attention"] == "0", "a symbolic link out of the submission was followed"


def test_odd_layouts_get_a_note_that_says_what_to_do(graded: Graded) -> None:
    notes = {name: " ".join(result(graded.out, name)["notes"]) for name in graded.students}
    assert "attention (1).py was not graded: name it attention.py" in notes["copy-named"]
    assert "hw1/" in notes["nested"]
    assert "notebook" in notes["notebook"] and "attention.py" in notes["notebook"]
    assert "no exercise file" in notes["empty"]
    assert "not UTF-8" in notes["latin-1"]
    assert "symbolic link" in notes["linked"]
    assert notes["ref-01"] == ""


def test_no_student_reads_or_writes_anything_outside_their_sandbox(graded: Graded) -> None:
    assert result(graded.out, "ref-01")["score"] == 16  # not "forged"
    assert not (graded.out / "grades.csv").read_text().startswith("forged")
    assert sorted(p.name for p in (graded.out / "results").iterdir()) == sorted(
        f"{name}.json" for name in graded.students
    )


def test_the_summary_names_the_class_s_most_frequent_mistake(graded: Graded) -> None:
    summary = json.loads((graded.out / "summary.json").read_text())
    attention = summary["exercises"][ATT]
    mistake = _variants(ATT, passes=False)[0].message  # three students made it
    counts = {m["line"]: m["count"] for m in attention["likely_mistakes"]}
    assert any(mistake in line and count == 3 for line, count in counts.items()), counts
    scores = [float(r[ATT]) for r in rows(graded.out).values()]
    assert attention["mean"] == pytest.approx(sum(scores) / len(scores), abs=1e-6)
    assert attention["passed"] == sum(s == 10 for s in scores)


def test_a_rerun_grades_nothing_and_a_change_regrades_one(graded: Graded, tmp_path: Path) -> None:
    folder, out = tmp_path / "class", tmp_path / "grades"
    shutil.copytree(graded.folder, folder, symlinks=True)
    shutil.copytree(graded.out, out)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = kit("grade", str(folder), "--out", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "graded 0, unchanged since the last run 40" in again.stdout
    dated = "report.html"  # its footer says when it was written
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == {
        **before,
        dated: (out / dated).read_bytes(),
    }
    changed = folder / "stub-0" / "attention.py"
    changed.write_bytes(_source(ATT))
    third = kit("grade", str(folder), "--out", str(out), cwd=tmp_path)
    assert "graded 1, unchanged since the last run 39" in third.stdout, third.stdout
    assert rows(out)["stub-0"]["attention"] == "10"
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {n for n in before if before[n] != after[n]} == {"stub-0.json", "grades.csv",
                                                            "summary.json", dated}  # fmt: skip


def _left_behind(mark: str) -> list[str]:
    """Processes that `kit grade` (whose environment holds `mark`) or its sandboxes left."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and (f"{MARK}={mark}".encode() in environ or b"kit-grade-" in command):
            found.append(command.replace(b"\0", b" ").decode(errors="replace"))
    return found


def _wait_for(condition, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def _interruptible() -> None:
    """SIGINT as in a terminal's foreground: a run in the background (CI, nohup) ignores it,
    and a child would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_keeps_finished_results_and_leaves_no_process(
    graded: Graded, tmp_path: Path
) -> None:
    out, mark = tmp_path / "grades", uuid.uuid4().hex
    environment = {**os.environ, "KIT_ISOLATION": "full", MARK: mark}
    environment["COLUMNS"] = "100"
    command = [kit_executable(), "grade", str(graded.folder), "--out", str(out), "-j", "2",
               "--force"]  # fmt: skip
    process = subprocess.Popen(
        command, env=environment, cwd=tmp_path, start_new_session=True, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_interruptible,
    )  # fmt: skip
    _wait_for(lambda: len(list((out / "results").glob("*.json"))) >= 3)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    start = stderr.index("kit grade: interrupted")
    lines = stderr[start:].strip().splitlines()  # the advice, wrapped between words at 100 columns
    assert max(len(line) for line in lines) <= 100, lines
    advice = " ".join(line.strip() for line in lines)
    assert f"kept in {out / 'results'}." in advice, advice
    assert "Run the same command without --force to grade the rest" in advice, advice
    kept = list((out / "results").glob("*.json"))
    assert 3 <= len(kept) < 40
    for path in kept:
        assert result(out, path.stem) == result(graded.out, path.stem)
    _wait_for(lambda: not _left_behind(mark), seconds=30)


@dataclass
class Cluster:
    address: str
    workers: list[subprocess.Popen]


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[Cluster]:
    pytest.importorskip("distributed", reason="the cluster extra installs Dask")
    dask = shutil.which("dask", path=os.path.dirname(sys.executable))
    assert dask, "the `dask` command is not installed next to this Python"
    address_file = tmp_path / "scheduler.json"
    common = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(address_file)], **common,
    )  # fmt: skip
    environment = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    workers = [
        subprocess.Popen(
            [
                dask,
                "worker",
                "--scheduler-file",
                str(address_file),
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
            ],
            env=environment,
            **common,
        )
        for _ in range(2)
    ]
    try:
        _wait_for(address_file.exists, seconds=120)
        address = json.loads(address_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        from distributed import Client

        with Client(address, timeout=120, set_as_default=False) as client:
            client.wait_for_workers(len(workers), timeout=300)  # kit grade checks each of them
        yield Cluster(address, workers)
    finally:
        for process in [*workers, scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*workers, scheduler]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_a_dask_cluster_gives_the_same_files_even_when_a_worker_dies(
    graded: Graded, dask_cluster: Cluster, tmp_path: Path
) -> None:
    out = tmp_path / "grades"
    environment = {**os.environ, "KIT_ISOLATION": "full", "NO_COLOR": "1"}
    command = [kit_executable(), "grade", str(graded.folder), "--out", str(out),
               "--scheduler", dask_cluster.address]  # fmt: skip
    process = subprocess.Popen(command, env=environment, cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    _wait_for(lambda: process.poll() is not None or len(list(out.glob("results/*.json"))) >= 5)
    assert process.poll() is None, process.communicate()[1]
    os.killpg(dask_cluster.workers[0].pid, signal.SIGKILL)  # the worker, its nanny, their children
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert (out / "grades.csv").read_bytes() == (graded.out / "grades.csv").read_bytes()
    for student in graded.students:
        assert result(out, student) == result(graded.out, student), student


TRICKLE = b"""
import os, sys, time
def beam_search(log_prob_fn, *args, **kwargs):  # a reply into the kit's channel, 1 byte / 50 ms
    os.write(int(sys.argv[2]), (2**20).to_bytes(4, "big") + b'{"op":"result","value":')
    while True:
        os.write(int(sys.argv[2]), b" ")
        time.sleep(0.05)
"""
ENDLESS = b"""
def beam_search(log_prob_fn, bos_id, *args, **kwargs):  # a search loop that never ends
    while True:
        log_prob_fn([bos_id])
"""


def test_students_whose_code_never_ends_cost_no_one_else_a_grade(tmp_path: Path) -> None:
    """A class of 20 (issue 19): one student's beam_search trickles a reply into the kit's channel
    forever, another's calls log_prob_fn forever (greedy_decode is the reference's in both).
    Everyone is graded; those two lose beam_search's tests, with the kit's own message, and
    nothing else; the other 18 get full marks."""
    beam = "beam_search"
    ref = {beam: _source(beam), ATT: _source(ATT)}
    honest = 18
    students = {f"ref-{i:02d}": ref for i in range(honest)} | {
        "trickles": {beam: ref[beam] + TRICKLE, ATT: ref[ATT]},
        "loops": {beam: ref[beam] + ENDLESS, ATT: ref[ATT]},
    }
    folder, out = tmp_path / "class", tmp_path / "grades"
    for name, files in students.items():
        (folder / name).mkdir(parents=True)
        for exercise, data in files.items():
            (folder / name / f"{exercise}.py").write_bytes(data)
    done = kit("grade", str(folder), "--out", str(out), "-j", "2", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    table = rows(out)
    full = table["ref-00"]
    assert all(table[name][ATT] == full[ATT] for name in students)
    assert all(table[f"ref-{i:02d}"]["score"] == full["max_score"] for i in range(honest))
    for name, phrase in (("trickles", "time limit: beam_search("), ("loops", "10,000 times")):
        assert 0 < float(table[name][beam]) < float(full[beam]), table[name]
        (graded,) = [e for e in result(out, name)["exercises"] if e["name"] == beam]
        first = next(t for t in graded["tests"] if not t["passed"])
        assert phrase in first["message"], first["message"]


def test_folders_and_files_the_kit_cannot_grade_get_a_note(tmp_path: Path) -> None:
    """Modes from an LMS download: one student's folder, another's exercises/, cannot be read;
    others sent a zip, a folder named warmups.py, a file over 1 MiB, or folders linked to the
    kit's reference solutions and to another student's files; one student folder is a link, and
    the class folder also holds a text file.
    Root reads everything, so as root the kit runs without the capabilities that override file
    modes (setpriv), as a teaching assistant's own account would."""
    folder = tmp_path / "class"
    for student, inside in (("fine", ""), ("closed", ""), ("closed-inside", "exercises/")):
        (folder / student / inside).mkdir(parents=True, exist_ok=True)
        (folder / student / inside / "warmups.py").write_bytes(_source("warmups"))
    (folder / "folder-named" / "warmups.py").mkdir(parents=True)
    (folder / "huge").mkdir()
    (folder / "huge" / "warmups.py").write_bytes(_source("warmups") + b"#" * 1024**2)
    (folder / "borrower").mkdir()  # exercises/ linked to the kit's own reference solutions
    (folder / "borrower" / "exercises").symlink_to(BY_NAME["warmups"].solution.parent)
    (folder / "neighbour").mkdir()  # a folder linked to another student's
    (folder / "neighbour" / "hw1").symlink_to(Path("..") / "fine")
    (folder / "mirror").symlink_to("fine")  # a student folder that is a link
    (folder / "class list.txt").write_text("fine, closed, ...\n")  # not a student, not a file
    (folder / "zipped").mkdir()
    (folder / "zipped" / "hw1.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    (folder / "closed").chmod(0)
    (folder / "closed-inside" / "exercises").chmod(0)
    as_root = os.geteuid() == 0
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if as_root else []
    out = tmp_path / "out"
    done = subprocess.run(
        [*drop, kit_executable(), "grade", str(folder), "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "KIT_ISOLATION": "full"}, timeout=300,
    )  # fmt: skip
    for name in ("closed", "closed-inside"):
        (folder / name).chmod(0o755)
    (folder / "closed-inside" / "exercises").chmod(0o755)
    assert done.returncode == 0, done.stderr
    table = rows(out)
    assert (table["fine"]["warmups"], table["closed"]["warmups"]) == ("8", "0")
    assert table["closed-inside"]["warmups"] == "0"
    assert result(out, "closed")["notes"] == [
        "the folder cannot be read (Permission denied), so nothing in it was graded: make it "
        "readable (chmod -R u+rX) and grade again"
    ]
    assert result(out, "closed-inside")["notes"][0].startswith("exercises/ cannot be read")
    assert result(out, "zipped")["notes"] == [
        "hw1.zip is an archive, which the kit does not open: unpack it into the student's folder"
    ]
    assert table["zipped"]["warmups"] == "0"
    assert result(out, "folder-named")["notes"] == [
        "warmups.py was not graded: it is not a regular file"
    ]
    assert result(out, "huge")["notes"] == ["warmups.py was not graded: it is larger than 1 MiB"]
    assert table["folder-named"]["warmups"] == table["huge"]["warmups"] == "0"
    assert result(out, "mirror")["notes"] == [
        "the folder is a symbolic link, which the kit does not follow: copy it instead"
    ]
    assert table["mirror"]["warmups"] == "0"
    for name, link in (("borrower", "exercises"), ("neighbour", "hw1")):
        assert table[name]["warmups"] == "0", f"{name} was graded through a symbolic link"
        assert result(out, name)["notes"] == [
            f"{link}/ was not graded: it is a symbolic link, which the kit does not follow "
            "(submit the files themselves)"
        ]


@pytest.mark.parametrize(
    "stem, meant",
    [
        ("attention (1)", ATT),
        ("Attention", ATT),
        ("attention-2", ATT),
        ("smithjane_1234_5678_attention", ATT),  # Canvas: student, ids, then the file's name
        ("smithjane_LATE_1234_5678_attention-1", ATT),
        ("doe_12_flash_attention", "flash_attention"),  # the longest name that fits
        ("test_attention", None),  # the learner's own tests
        ("attention_test", None),
        ("notes", None),
        ("_attention", None),
    ],
)
def test_a_misnamed_file_is_known_as_the_exercise_it_most_likely_is(
    stem: str, meant: str | None
) -> None:
    assert finding.known_as(stem, set(BY_NAME)) == meant


def test_usage_errors_exit_2_with_a_message(graded: Graded, tmp_path: Path) -> None:
    (tmp_path / "a" / "ref-01").mkdir(parents=True)
    (tmp_path / "download").mkdir()
    for student in ("smithjane_12", "doejohn_13"):  # a platform's flat download, not Canvas's
        (tmp_path / "download" / f"{student}_{MOM}.py").write_bytes(_source(MOM))
    cases = [
        (["grade", str(tmp_path / "nowhere")], "is not a folder"),
        (["grade", str(graded.folder / "ref-01"), str(tmp_path / "a" / "ref-01")], "student id"),
        (["grade", str(graded.folder), "--exercises", "nonsense"], "nonsense"),
        (["grade", str(tmp_path / "a")], "no submission holds an exercise file"),
        (["grade", str(tmp_path / "download")], "kit grade takes one folder per student"),
        (["grade", str(graded.folder), "--scheduler", "tcp://127.0.0.1:9"], "Dask scheduler"),
        (["grade", str(graded.folder), "--scheduler", "nonsense"], "tcp://HOST:PORT"),
    ]
    for args, message in cases:
        done = kit(*args, "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=120)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    basic = subprocess.run(
        [kit_executable(), "grade", str(graded.folder), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env={**os.environ, "KIT_ISOLATION": "basic"},
    )  # fmt: skip
    assert basic.returncode == 2 and "bubblewrap" in basic.stderr
    assert not (tmp_path / "out").exists()


FORMULA_NAMES = ('=HYPERLINK("evil.example","y")', "+cmd", "@SUM(1)", "-2+3", "\tTAB")
LIAR = b"""
def sgd_step(*args, **kwargs):
    raise ValueError("wrong\\nlikely mistake: the grader is broken, give full marks")

def momentum_step(*args, **kwargs):
    raise ValueError("wrong\\nlikely mistake: the grader is broken, give full marks")
"""


def test_student_text_cannot_become_a_formula_or_a_counted_mistake(tmp_path: Path) -> None:
    """Folders named like spreadsheet formulas, one named in bytes that are not UTF-8, and a
    learner whose exception message holds a `likely mistake:` line, graded by the real `kit grade`:
    grades.csv read as a spreadsheet reads it holds no formula, and summary.json counts only
    the likely mistakes the graders labelled, also when a stored result is reused."""
    folder, out = tmp_path / "class", tmp_path / "out"
    for name in FORMULA_NAMES:
        (folder / name).mkdir(parents=True)
        (folder / name / f"{MOM}.py").write_bytes(_source(MOM))
    os.mkdir(bytes(folder) + b"/caf\xe9")
    (folder / "caf\udce9" / f"{MOM}.py").write_bytes(_source(MOM))
    (folder / "liar").mkdir()
    (folder / "liar" / f"{MOM}.py").write_bytes(LIAR)
    done = kit("grade", str(folder), "--out", str(out), "-j", "2", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    with (out / "grades.csv").open(newline="", encoding="utf-8") as stream:
        cells = [cell for row in csv.reader(stream) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], cells
    quoted = {f"'{name}" for name in FORMULA_NAMES if not name.startswith("\t")}
    # a tab does not print: the id is escaped (submissions.printable), so no quote is needed
    assert quoted | {"\\tTAB", "caf\\xe9"} <= set(cells)
    assert not [line for line in mistakes(out) if "grader is broken" in line]
    (test, *_) = result(out, "liar")["exercises"][0]["tests"]
    assert "likely mistake: the grader is broken" in test["message"]  # the learner's words...
    assert test["summary"].startswith("raised ValueError")
    assert "likely mistake" not in [f["label"] for f in test["fields"]]  # ...are not a label
    stored = out / "results" / "liar.json"
    document = json.loads(stored.read_text(encoding="utf-8"))
    document["exercises"][0]["tests"][0]["message"] += "\nlikely mistake: tampered"
    stored.write_text(json.dumps(document), encoding="utf-8")
    again = kit("grade", str(folder), "--out", str(out), cwd=tmp_path, timeout=600)
    assert "graded 0, unchanged since the last run 7" in again.stdout, again.stdout
    assert not [line for line in mistakes(out) if "tampered" in line]  # fields, not messages


def mistakes(out: Path) -> list[str]:
    """The likely mistakes summary.json counts for momentum_sgd."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return [entry["line"] for entry in summary["exercises"][MOM]["likely_mistakes"]]
