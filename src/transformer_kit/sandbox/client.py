"""`Sandboxed`: one exercise's worker as the grading process drives it (requests, callbacks,
time-outs, restarts). Its `student()` is the `RemoteStudent` graders talk to (remote.py).

Only plain data crosses back (see protocol.py). A worker that hangs, exits, crashes or runs out of
memory becomes a `StudentFailed` naming what happened; the next test gets a fresh worker.
"""

from __future__ import annotations

import re
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformer_kit.grader.failures import StudentFailed, StudentRaised
from transformer_kit.grader.student import mutation_failure
from transformer_kit.grader.warned import MAX_TEXT, MAX_WARNINGS, LearnersWarning
from transformer_kit.sandbox import channel, protocol, values
from transformer_kit.sandbox import process as sandbox
from transformer_kit.sandbox.isolation import Level
from transformer_kit.sandbox.remote import RemoteObject, RemoteStudent
from transformer_kit.untrusted import clean

# shown only where a grader asks for them (grader/warned.assert_stable), never printed
warnings.filterwarnings("ignore", category=LearnersWarning)

MAX_TIME_OUTS = 2  # after this many time-outs an exercise's remaining tests fail at once
NAME_LIMIT = 200  # characters of a class or argument name from the worker
NAMES_KEPT = 32  # entries of a list of names from the worker (an exception's base classes)
OUTPUT_KEPT = 4096  # characters of the learner's printing kept per test (--show-output)
MAX_CALLBACKS = 10_000  # calls of the grader's functions one call of the learner's may make
CALLBACK_BYTES = 4 * 2**20  # the arguments of all those callbacks together, as frames
# The diagnoses of a worker that forked too much, died or broke the kit's channel: they say what
# happened to the process (in a fork storm, which of them depends on timing), not which mistake
# the computation makes, so a class's counts of likely mistakes leave them out (batch/stats.py).
FORKED = "the exercise needs no fork, subprocess or multiprocessing"
EXITED = "remove sys.exit()/os._exit() and anything that ends the process"
CRASHED = (
    "a crash in native code (ctypes, a bad index in an extension, unbounded recursion with a "
    "raised recursion limit), an in-place write into an input array through torch.from_numpy "
    "(inputs are read-only: use torch.tensor(x), a copy), or the process was killed"
)
MALFORMED = "return plain numbers, numpy arrays or lists; do not write to the kit's channel"
CHANNEL_DIAGNOSES = frozenset({FORKED, EXITED, CRASHED, MALFORMED})


@dataclass(frozen=True)
class Target:
    """What a worker loads: exercise `name` from `path`, isolated at `level`."""

    name: str
    path: Path
    limits: sandbox.Limits
    level: Level

    @property
    def label(self) -> str:
        """The file as its folder and name: exercises/NAME.py, or interview/NAME.py."""
        return f"{self.path.parent.name}/{self.path.name}"


class Sandboxed:
    """The worker of one exercise across its tests: started ahead, restarted after a failure."""

    def __init__(self, target: Target, worker: sandbox.Worker | None = None) -> None:
        self.target = target
        self.worker = worker  # one started ahead, or None
        self.generation = 0 if worker is None else 1
        self.budget = channel.Budget(0.0)
        self.time_limit = 0.0
        self.time_outs = 0
        self.import_failure: StudentFailed | StudentRaised | None = None
        self.ready = False
        self.functions: dict[str, RemoteObject] = {}  # module functions looked up already
        self.printed = ""  # what the learner's code printed during the current test

    def start(self) -> None:
        if self.worker is None and self.import_failure is None:
            self.worker = sandbox.spawn(
                self.target.name, self.target.path, self.target.limits, self.target.level
            )
            self.ready = False
            self.generation += 1

    def begin_test(self, time_limit: float) -> None:
        self.time_limit = time_limit
        self.budget = channel.Budget(time_limit)
        self.printed = ""

    def take_output(self) -> str:
        """What the learner's code printed since the test began (bounded and cleaned)."""
        printed, self.printed = self.printed, ""
        return clean(printed, OUTPUT_KEPT)

    def student(self) -> RemoteStudent:
        """The handle a test's graders call the learner's code through."""
        return RemoteStudent(self)

    def close(self) -> None:
        if self.worker is not None:
            sandbox.stop(self.worker)
            self.worker = None

    def request(self, message: dict[str, Any], call: str, callbacks: dict[int, Any]) -> Any:
        """Send one request; serve callbacks until the answer; return its decoded value."""
        worker = self._ready_worker(call)
        reply = self._answer(worker, message, call, callbacks)
        if reply["op"] == "raised":
            raise self._raised(reply, call)
        if reply["op"] != "result":
            raise self._malformed(call)
        if reply.get("mutated"):
            raise mutation_failure(call, _names(reply["mutated"]))
        for text in _warnings(reply.get("warned")):  # raised again here (grader/warned.py)
            warnings.warn(text, LearnersWarning, stacklevel=2)
        return self._decode(reply.get("value"), call)

    def _answer(
        self, worker: sandbox.Worker, message: dict[str, Any], call: str, callbacks: dict[int, Any]
    ) -> dict[str, Any]:
        """The worker's final reply to `message`, its callbacks served (at most MAX_CALLBACKS
        of them, CALLBACK_BYTES in all) within the test's one budget. Whatever ends the exchange
        before that reply (a limit, a failing grader function) stops the worker: the next call
        gets a fresh one, in step."""
        try:
            self._send(worker, message, call)
            served, received = 0, 0
            while True:
                body = self._receive_frame(worker, self.budget, call)
                reply = self._read(body, call)
                if reply["op"] != "callback":
                    return reply
                served, received = served + 1, received + len(body)
                if served > MAX_CALLBACKS:  # an endless loop: counted as a time-out
                    self.time_outs += 1
                    what = f"called the function it was given more than {MAX_CALLBACKS:,} times"
                    raise self._callback_flood(call, what)
                if received > CALLBACK_BYTES:
                    what = f"passed over {CALLBACK_BYTES // 2**20} MiB to the function it was given"
                    raise self._callback_flood(call, what)
                self._serve_callback(worker, reply, callbacks, call)
        except BaseException:
            self.close()
            raise

    def _ready_worker(self, call: str) -> sandbox.Worker:
        if self.import_failure is not None:
            raise self.import_failure
        if self.time_outs >= MAX_TIME_OUTS:
            raise StudentFailed(
                f"not run: {self.time_outs} earlier tests of this exercise did not finish (the "
                "time limit, or endless callbacks)",
                call=call,
                diagnosis="fix the infinite loop (or the very slow code) those tests report first",
            )
        self.start()
        assert self.worker is not None
        if not self.ready:
            budget = channel.Budget(self.target.limits.import_seconds, self.worker.started)
            importing = f"importing {self.target.label}"
            try:
                reply = self._read(self._receive_frame(self.worker, budget, importing), importing)
            except (StudentFailed, StudentRaised) as failure:
                self.import_failure = failure
                raise
            if reply["op"] == "import_failed":
                self.import_failure = self._import_raised(reply)
                self.close()
                raise self.import_failure
            if reply["op"] != "ready":
                raise self._malformed(call)
            self.ready = True
            self.budget = channel.Budget(self.time_limit)  # import time is not the test's
        return self.worker

    def _send(self, worker: sandbox.Worker, message: dict[str, Any], call: str) -> None:
        try:
            sent = channel.send(worker, message, self.budget)
        except TimeoutError:
            raise self._timed_out(call) from None
        if not sent:
            raise self._died(call)

    def _receive_frame(self, worker: sandbox.Worker, budget: channel.Budget, call: str) -> bytes:
        """The next frame's body from the worker, within `budget`."""
        try:
            body = channel.receive(worker, budget)
        except TimeoutError:
            raise self._timed_out(call) from None
        except protocol.FrameTooLarge as error:
            if error.op == "callback":
                what = (
                    f"called the function it was given with {error.size:,} bytes of arguments, "
                    f"over the kit's limit of {protocol.MAX_CALLBACK:,} bytes a time"
                )
                raise self._callback_flood(call, what) from None
            raise self._malformed(call) from None
        except protocol.ProtocolError:
            raise self._malformed(call) from None
        if body is None:
            raise self._died(call)
        return body

    def _read(self, body: bytes, call: str) -> dict[str, Any]:
        """A frame's message; what the learner's code printed meanwhile is kept (bounded)."""
        try:
            reply = protocol.unpack_body(body)
        except protocol.ProtocolError:
            raise self._malformed(call) from None
        output = reply.get("output")
        if isinstance(output, str) and len(self.printed) <= OUTPUT_KEPT:
            self.printed += output[: OUTPUT_KEPT + 1]
        return reply

    def _serve_callback(
        self, worker: sandbox.Worker, reply: dict[str, Any], callbacks: dict[int, Any], call: str
    ) -> None:
        key = reply.get("id")
        function = callbacks.get(key) if type(key) is int else None
        args = self._decode(reply.get("args"), call)
        if function is None or not isinstance(args, tuple):
            raise self._malformed(call)
        try:
            value = function(*args)
            answer = {"op": "reply", "value": values.encode(value, _refuse)}
        except Exception as error:  # the learner passed the grader's function bad arguments
            answer = {"op": "callback_error", "text": f"{type(error).__name__}: {error}"}
        self._send(worker, answer, call)

    def _decode(self, tree: Any, call: str) -> Any:
        generation = self.generation
        try:
            return values.decode(tree, lambda tag, payload: self._handle(tag, payload, generation))
        except (protocol.ProtocolError, RecursionError, TypeError, ValueError):
            raise self._malformed(call) from None

    def _handle(self, tag: str, payload: Any, generation: int) -> Any:
        if tag != "r" or not isinstance(payload, list) or len(payload) != 3:
            raise protocol.ProtocolError("unexpected handle")
        key, is_callable, type_name = int(payload[0]), bool(payload[1]), clean(payload[2], 100)
        return RemoteObject(self, generation, key, is_callable, type_name)

    def _raised(self, reply: dict[str, Any], call: str) -> StudentRaised | StudentFailed:
        types = _names(reply.get("types")) or ["Exception"]
        text, where = clean(reply.get("text", "")), clean(reply.get("where", ""))
        if types[0] == "MemoryError":
            return self._memory_failure(call, where)
        if values.is_read_only_error(types, text):  # a write into a sealed input array
            return mutation_failure(call, _names(reply.get("mutated")), where)
        if types[0] in ("SystemExit", "KeyboardInterrupt"):
            return StudentFailed(
                f"{call} raised {types[0]}: your code tried to stop the program",
                call=call,
                got=f"{types[0]}({text})",
                details=[where] if where else [],
                diagnosis="remove sys.exit()/exit()/quit() and raise no KeyboardInterrupt",
            )
        return StudentRaised(call, types, text, where)

    def _import_raised(self, reply: dict[str, Any]) -> StudentRaised | StudentFailed:
        failure = self._raised(reply, f"importing {self.target.label}")
        if isinstance(failure, StudentRaised):
            return StudentFailed(
                f"{self.target.label} could not be imported: {failure.type_name}: {failure.text}",
                call=f"import {self.target.name}",
                details=[failure.where] if failure.where else [],
                diagnosis=failure.advice
                or "fix the error above; every test of this exercise needs the module",
            )
        return failure

    def _memory_failure(self, call: str, where: str = "", who: str = "") -> StudentFailed:
        gib = self.target.limits.memory_bytes / 1024**3
        return StudentFailed(
            f"memory limit: {call} needed more than {gib:g} GiB{f' ({who})' if who else ''}",
            call=call,
            details=[where] if where else [],
            diagnosis="an array far larger than the inputs (an outer product too many?)",
        )

    def _timed_out(self, call: str) -> StudentFailed:
        self.time_outs += 1
        limit = self.target.limits.import_seconds if not self.ready else self.time_limit
        self.close()
        return StudentFailed(
            f"time limit: {call} did not finish within {limit:g} s of CPU time "
            f"({sandbox.WALL_FACTOR * limit:g} s of wall time, the grader's callbacks included)",
            call=call,
            diagnosis="an infinite loop, a sleep, or code far slower than it needs to be",
        )

    def _callback_flood(self, call: str, what: str) -> StudentFailed:
        """The failure for a call that called back too often, or with too much data."""
        self.close()
        return StudentFailed(
            f"{call} {what}",
            call=call,
            diagnosis="call the function with what the exercise describes (for log_prob_fn: a "
            "prefix of token ids), and not in an endless loop",
        )

    def _died(self, call: str) -> StudentFailed:
        worker = self.worker
        status = worker.exit_status() if worker is not None else None
        tail = clean(worker.output_tail()) if worker is not None else ""
        overrun = worker.overrun if worker is not None else ""
        self.close()
        if overrun == "memory":
            return self._memory_failure(call, "", "your code's processes together")
        if overrun == "processes":
            return StudentFailed(
                f"process limit: {call} started more than {self.target.limits.processes} processes",
                call=call,
                diagnosis=FORKED,
            )
        details = [f"last output of your code:\n{tail}"] if tail else []
        if status is not None:
            status = self.target.level.exit_code(status)
        if status is None or status >= 0:
            return StudentFailed(
                f"your code exited early (exit code {status}) during {call}",
                call=call,
                details=details,
                diagnosis=EXITED,
            )
        number = -status
        if number == signal.SIGXCPU:
            return StudentFailed(f"CPU time limit: {call} used too much CPU time", call=call)
        if "MemoryError" in tail or "Cannot allocate memory" in tail:
            return self._memory_failure(call)
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        name = _fault_named(tail) or name
        return StudentFailed(
            f"your code crashed ({name}{_SIGNAL_WORDS.get(name, '')}) during {call}",
            call=call,
            details=details,
            diagnosis=CRASHED,
        )

    def _malformed(self, call: str) -> StudentFailed:
        self.close()
        return StudentFailed(
            f"the process running your code sent data the kit cannot read during {call}",
            call=call,
            diagnosis=MALFORMED,
        )


def _warnings(value: Any) -> list[str]:
    """The worker's floating-point warnings for one call, bounded in length and count."""
    items = value[:MAX_WARNINGS] if isinstance(value, list) else []
    return [clean(item, MAX_TEXT) for item in items if isinstance(item, str)]


def _names(value: Any) -> list[str]:
    """A list of names from the worker, bounded in length and count."""
    items = value[:NAMES_KEPT] if isinstance(value, list) else []
    return [clean(item, NAME_LIMIT) for item in items]


_SIGNAL_WORDS = {"SIGSEGV": ": segmentation fault", "SIGABRT": ": aborted", "SIGKILL": ": killed"}
# faulthandler's first line for a fatal signal: its own name for the crash. (The exit status may
# say otherwise: as the first process of its PID namespace, a worker cannot kill itself with
# SIGABRT, and abort() then ends in an instruction that raises SIGSEGV, reported second.)
_FAULTS = {"Aborted": "SIGABRT", "Segmentation fault": "SIGSEGV", "Bus error": "SIGBUS",
           "Floating-point exception": "SIGFPE", "Illegal instruction": "SIGILL"}  # fmt: skip
_FAULT_LINE = re.compile(rf"^Fatal Python error: ({'|'.join(map(re.escape, _FAULTS))})$", re.M)


def _fault_named(tail: str) -> str:
    """The first signal faulthandler reported in the worker's last output (the later ones, if
    any, came from the crash itself), or ""."""
    found = _FAULT_LINE.search(tail)
    return _FAULTS[found.group(1)] if found else ""


def _refuse(value: Any) -> dict[str, Any]:
    raise TypeError(f"a grader callback returned {type(value).__name__}, not plain data")
