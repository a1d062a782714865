"""The worker: imports one learner module and answers calls on it, in its own process.

Started by `sandbox.spawn` as `python -I -c ... IN_FD OUT_FD LEVEL FILTER_FD PROCESSES NAME PATH UID
[MODULE ...]` (inside bubblewrap at the full isolation level, see isolation.py), under resource
limits, with stdout and stderr going to a capped file. With MODULEs (a worker started ahead,
while the learner edits) it imports them, then waits for the grading process's "load" before it
loads PATH, so it loads the file as saved.
Everything here runs beside the learner's code and is trusted by nobody: the grading process only
accepts plain data from it, and nothing it says about the learner's code decides a grade alone.
A call's input arrays are in sealed, read-only memory (values.decode_sealed), so an in-place write
fails as numpy's own error; its memory is measured from outside (sandbox/meter.py).
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib.util
import io
import linecache
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from transformer_kit.grader.memory import fix_mmap_threshold
from transformer_kit.grader.student import mutated_arguments, plain, snapshot
from transformer_kit.grader.warned import floating_point_warnings
from transformer_kit.sandbox import isolation, protocol, values

PRINT_KEEP = 4096  # characters of the learner's printing kept per reply (for --show-output)


class CappedText(io.TextIOBase):
    """A text stream that keeps the first PRINT_KEEP characters written to it since the last
    `take` (which hands them over with the next reply) and counts the rest."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        room = PRINT_KEEP - self.size
        if room > 0:
            self.kept.append(text[:room])
        self.size += len(text)
        return len(text)

    def take(self) -> str:
        fresh = "".join(self.kept)
        if self.size > PRINT_KEEP:
            fresh += f"\n… ({self.size - PRINT_KEEP:,} more characters)"
        self.kept, self.size = [], 0
        return fresh


class Session:
    """The learner's module and the objects handed out from it, by handle id (0 = the module)."""

    def __init__(self, in_fd: int, out_fd: int, path: Path, printed: CappedText) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.path = path
        self.printed = printed
        self.objects: dict[int, Any] = {}

    def send(self, message: dict[str, Any]) -> None:
        """One frame, carrying what the learner's code printed since the last one."""
        output = self.printed.take()
        protocol.write_frame(self.out_fd, {**message, "output": output} if output else message)

    def receive(self) -> dict[str, Any]:
        header = protocol.read_exact(self.in_fd, protocol.HEADER.size)
        if not header:
            raise SystemExit(0)  # the grading process is done with us
        (length,) = protocol.HEADER.unpack(header)
        return protocol.unpack_body(protocol.read_exact(self.in_fd, length))

    def keep(self, value: Any) -> dict[str, Any]:
        """A handle for an object that is not plain data (a KVCache, a bound method)."""
        key = len(self.objects)
        self.objects[key] = value
        return {"r": [key, callable(value), type(value).__name__]}

    def encode(self, value: Any) -> Any:
        return values.encode(plain(value), self.keep)

    def decode(self, tree: Any) -> Any:
        return values.decode(tree, self.resolve)

    def resolve(self, tag: str, payload: Any) -> Any:
        if tag == "r":
            return self.objects[int(payload[0])]
        return Callback(self, int(payload))

    def serve(self) -> None:
        while True:
            request = self.receive()
            try:
                reply = self.answer(request)
            except BaseException as error:  # the learner's exit or interrupt is a result too
                reply = self.raised(error)
            try:
                self.send(reply)
            except protocol.ProtocolError as error:  # a result over the frame limit
                self.send(self.raised(error))

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        target = self.objects[int(request["target"])]
        op = request["op"]
        if op == "getattr":
            return {"op": "result", "value": self.encode(getattr(target, request["name"]))}
        if op == "len":
            return {"op": "result", "value": len(target)}
        arguments = [request["args"], {"d": request["kwargs"]}]
        args, kwargs = values.decode_sealed(arguments, self.resolve)
        taken = snapshot(args, kwargs, arrays=False, target=target)  # arrays sealed: lists, dicts
        try:
            with floating_point_warnings() as warned:
                result = target(*args, **kwargs)
        except ValueError as error:
            reply = self.raised(error)
            if values.is_read_only_error(reply["types"], reply["text"]):
                reply["mutated"] = self.written(target, arguments)
            return reply
        changed = mutated_arguments(taken)
        reply = {"op": "result", "value": self.encode(result), "mutated": changed}
        return {**reply, "warned": warned} if warned else reply

    def written(self, target: Any, arguments: list[Any]) -> list[str]:
        """Which arguments a call that wrote into a sealed one modifies: the call once more, on
        writable copies. (Only names the argument: the write has failed the test already.)"""
        args, kwargs = self.decode(arguments)
        taken = snapshot(args, kwargs, target=target)
        with contextlib.suppress(Exception):
            target(*args, **kwargs)
        return mutated_arguments(taken)

    def raised(self, error: BaseException) -> dict[str, Any]:
        return {
            "op": "raised",
            "types": [cls.__name__ for cls in type(error).__mro__],
            "text": _safe_str(error),
            "where": self.where(error),
        }

    def where(self, error: BaseException) -> str:
        """The learner's lines in the traceback, innermost last."""
        lines = []
        for frame in traceback.extract_tb(error.__traceback__):
            if Path(frame.filename) == self.path:
                code = linecache.getline(frame.filename, frame.lineno or 0).strip()
                lines.append(f"  {self.path.name}, line {frame.lineno}, in {frame.name}: {code}")
        return "\n".join(lines[-3:])


class Callback:
    """A grader function passed as an argument: calling it asks the grading process."""

    def __init__(self, session: Session, key: int) -> None:
        self.session = session
        self.key = key

    def __call__(self, *args: Any) -> Any:
        self.session.send({"op": "callback", "id": self.key, "args": self.session.encode(args)})
        reply = self.session.receive()
        if reply["op"] != "reply":
            raise RuntimeError(reply.get("text", "the grader's function failed"))
        return self.session.decode(reply["value"])


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)[:2000]
    except Exception:
        return "<an exception whose str() fails>"


def load(name: str, path: Path) -> Any:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def warm_up_torch() -> None:
    """If the learner's module imported torch, load the part torch imports lazily on first use
    (torch.optim's compiler hooks, over a second) now, within the import's time budget, so it
    is not charged to the first test's time limit."""
    if "torch" in sys.modules:
        with contextlib.suppress(Exception):
            importlib.import_module("torch._dynamo")


def preload(modules: list[str]) -> None:
    """Import what the learner's module will need (numpy, torch) before it is written; one that
    fails to import is left for the learner's own import to report."""
    for module in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    warm_up_torch()


def main(argv: list[str]) -> None:
    in_fd, out_fd, level, rules, processes, name, path_text, uid = argv[:8]
    modules = argv[8:]  # what to import before the learner's file is loaded
    # enter the level the grading process chose (its name), under the system-call filter in
    # `rules`, with a user id of its own (`uid`) and at most `processes` processes
    isolation.named(level).enter([int(in_fd), int(out_fd)], int(uid), int(rules))
    isolation.limit_processes(int(processes))
    # a crash leaves its traceback in the output file
    faulthandler.enable(sys.__stderr__ or sys.stderr)
    printed = CappedText()
    sys.stdout = sys.stderr = printed
    np.seterr(all="ignore")  # floating-point warnings are the learner's business, not a failure
    fix_mmap_threshold()  # large blocks freed go back to the system (see grader/memory.py)
    # torch.from_numpy of a sealed argument works (read-only), and need not say so every time
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    session = Session(int(in_fd), int(out_fd), Path(path_text), printed)
    if modules:
        preload(modules)
        if session.receive().get("op") != "load":
            return
    try:
        session.objects[0] = load(name, session.path)
    except BaseException as error:
        session.send({**session.raised(error), "op": "import_failed"})
        return
    warm_up_torch()
    session.send({"op": "ready"})
    session.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
