"""`kit watch`: re-check an exercise each time its file is saved, and redraw the report.

Saves are seen by files.FileWatcher. One process keeps pytest, numpy and the graders imported,
and as soon as a check ends it starts the next sandboxed worker, which imports numpy (and torch,
when the learner's file imports it) while the learner edits and loads the file only once it has
been saved. A re-check then costs the learner's module, the calls and a pytest session.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from transformer_kit.catalog import Exercise
from transformer_kit.check import DEFAULT_LIMITS, GraderError, check
from transformer_kit.learner.files import FileWatcher, imports_torch
from transformer_kit.learner.interview import SUBMIT
from transformer_kit.learner.workspace import load_progress, record_results
from transformer_kit.results import CheckResult
from transformer_kit.sandbox import isolation
from transformer_kit.sandbox import process as sandbox

GOODBYE = "Stopped watching. Your progress is saved; `kit list` shows it."
QUIT = "Ctrl-C to quit"
WATCH_ONE = "`kit watch NAME` watches one exercise anyway."
FIRST_UNFINISHED = " (your first unfinished exercise)"
SAVED_LAST = " (the exercise you saved; saving any exercise checks it)"

Draw = Callable[[Console, CheckResult], None]  # prints one check's report
INTERVIEW_OVER = (
    "[green]The interview attempt is over[/] (`kit interview --history` lists it): "
    "back to your exercises."
)
TICK_SECONDS = 0.2  # how often `stop`, the interview's clock and its store are looked at
MORE_LINES = "[dim]… {count} more lines: `kit check {name} --details` shows the whole report[/]"


@dataclass(frozen=True)
class Interview:
    """A running interview attempt to watch: its exercise, folder, deadline and report."""

    exercise: Exercise
    folder: Path
    deadline: datetime
    draw: Draw  # the report, whose footer offers no hints
    still_running: Callable[[], bool]  # False once the attempt was submitted or abandoned


def watch_loop(
    root: Path,
    exercises: Sequence[Exercise],
    follow: bool,
    poll: bool,
    out: Console,
    draw: Draw,
    stop: threading.Event | None = None,
    interview: Interview | None = None,
) -> int:
    """Check, redraw, wait for a save, repeat; returns the exit status (always 0).

    `draw(out, result)` prints one check's report (cli/render.py's, handed in by the command).
    `interview`: a running attempt, watched first (its folder, with a countdown; the progress
    store is left alone); once it is submitted or abandoned, `exercises` are watched.

    `follow`: watch the first unfinished of `exercises` and move on when it passes, until all
    have passed, and check any other of them that is saved; else watch `exercises[0]`. Ctrl-C,
    or setting `stop`, ends it with a goodbye. A GraderError (the kit's own graders are broken)
    is raised to the caller.
    """
    stop = stop if stop is not None else threading.Event()
    try:
        with ctrl_c_stops(stop):
            notices = []
            if interview is not None:
                with FileWatcher(interview.folder, poll) as watcher:
                    watched = [interview.exercise]
                    Watch(root, watched, False, (out, interview.draw), watcher, stop,
                          interview).run()  # fmt: skip
                notices.append(INTERVIEW_OVER)
            if not stop.is_set():
                with FileWatcher(root / "exercises", poll) as watcher:
                    watch = Watch(root, exercises, follow, (out, draw), watcher, stop)
                    watch.notices += notices
                    watch.run()
    except KeyboardInterrupt:
        stop.set()
    except GraderError:
        if not stop.is_set():  # else Ctrl-C ended pytest's session as "interrupted"
            raise
    if stop.is_set():
        out.print(f"\n{GOODBYE}")
    return 0


@contextlib.contextmanager
def ctrl_c_stops(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C sets `stop` and raises KeyboardInterrupt as usual. Where Python has to drop that
    exception (it arrived during a fork's callbacks or a finalizer) it is dropped quietly, not
    printed with a traceback, and the loop ends at its next step since `stop` is set. Only the
    main thread receives signals: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(number: int, frame: object) -> None:
        stop.set()
        raise KeyboardInterrupt

    def drop_interrupts(unraisable: sys.UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    previous_handler = signal.signal(signal.SIGINT, interrupt)
    previous_hook, sys.unraisablehook = sys.unraisablehook, drop_interrupts
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        sys.unraisablehook = previous_hook


class Watch:
    """One `kit watch` session: what is watched, what passed, what to say in the next frame."""

    def __init__(
        self,
        root: Path,
        exercises: Sequence[Exercise],
        follow: bool,
        screen: tuple[Console, Draw],
        watcher: FileWatcher,
        stop: threading.Event,
        interview: Interview | None = None,
    ) -> None:
        self.root = root.absolute()
        self.interview = interview
        self.folder = interview.folder.absolute() if interview else None  # None: exercises/
        self.exercises = exercises
        self.follow = follow
        self.out, self.draw = screen
        self.watcher = watcher
        self.stop = stop
        self.files = {f"{e.name}.py": e for e in exercises}
        self.passed: set[str] = set()  # in this session, whatever the progress store says
        self.notices: list[str] = []  # markup shown above the next report
        self.why = FIRST_UNFINISHED if follow else ""  # why this exercise: for the status line
        self.ahead: tuple[str, sandbox.Worker] | None = None  # the next check's worker
        self.torch: dict[str, bool] = {}  # whether each file imported torch when last parsed
        self.wake = threading.Event()  # set by `stop`, or by the interview's clock or its end

    def run(self) -> None:
        exercise = self._first_unfinished() if self.follow else self.exercises[0]
        if exercise is None:
            self.out.print(f"Every exercise has passed: nothing to follow. {WATCH_ONE}")
        finished = threading.Event()
        clock = threading.Thread(target=self._keep_time, args=(finished,), daemon=True)
        clock.start()
        try:
            while exercise is not None and not self.stop.is_set():
                result = self._check(exercise)
                if self.follow and result.passed:
                    exercise = self._move_on(exercise, result)
                    continue
                self._draw(result, self._status(exercise))
                self._start_ahead(exercise)
                saved = self._wait(exercise, result)
                if saved is None:
                    return
                if self.files[saved] is not exercise:
                    exercise, self.why = self.files[saved], SAVED_LAST
        finally:
            finished.set()
            clock.join()
            sandbox.stop_all()  # the worker started ahead

    def _wait(self, exercise: Exercise, result: CheckResult) -> str | None:
        """The next save's file name; None once watching ends (Ctrl-C, `stop`, or the
        interview attempt is over). The interview's countdown is redrawn meanwhile."""
        while not self.stop.is_set():
            saved = self.watcher.wait(self._watched_files(exercise), self.wake)
            if saved is not None:
                return saved
            if self.stop.is_set() or not self._interview_goes_on():
                return None
            self.wake.clear()
            self._draw(result, self._status(exercise))
        return None

    def _keep_time(self, finished: threading.Event) -> None:
        """Until `finished`: wake the loop's wait when `stop` is set and, while an interview is
        watched, when its minutes left change (the countdown) or the attempt ends."""
        shown = self._minutes_left()
        while not finished.wait(TICK_SECONDS) and not self.stop.is_set():
            if self.interview is None:
                continue
            left = self._minutes_left()
            if left != shown or not self.interview.still_running():
                shown = left
                self.wake.set()
        self.wake.set()

    def _interview_goes_on(self) -> bool:
        return self.interview is None or self.interview.still_running()

    def _minutes_left(self) -> int:
        """Whole minutes left of the interview, rounded up (0: the time is up)."""
        if self.interview is None:
            return 0
        seconds = (self.interview.deadline - datetime.now(UTC)).total_seconds()
        return max(0, math.ceil(seconds / 60))

    def _watched_files(self, exercise: Exercise) -> list[str]:
        """The file of `exercise`, and when following, every other exercise's file after it."""
        own = f"{exercise.name}.py"
        return [own, *(name for name in self.files if name != own)] if self.follow else [own]

    def _path(self, exercise: Exercise) -> Path:
        return (self.folder or self.root / "exercises") / f"{exercise.name}.py"

    def _start_ahead(self, exercise: Exercise) -> None:
        """Start the worker of the next check of `exercise` now, while the learner edits: it
        imports numpy, and torch when the file imports it (as last parsed, if it cannot be)."""
        path = self._path(exercise)
        if not path.parent.is_dir():
            return
        torch = imports_torch(path)
        self.torch[exercise.name] = self.torch.get(exercise.name, False) if torch is None else torch
        modules = ("numpy", "torch") if self.torch[exercise.name] else ("numpy",)
        worker = sandbox.spawn(exercise.name, path, DEFAULT_LIMITS, isolation.choose(), modules)
        self.ahead = (exercise.name, worker)

    def _take_ahead(self, exercise: Exercise) -> dict[str, sandbox.Worker]:
        """The worker started ahead, told to load the file as saved now, if it was started for
        `exercise` and still sees that file; else nothing (and it is stopped)."""
        if self.ahead is None:
            return {}
        (name, worker), self.ahead = self.ahead, None
        if name != exercise.name:
            sandbox.stop(worker)
            return {}
        return {name: worker} if sandbox.release(worker, self._path(exercise)) else {}

    def _check(self, exercise: Exercise) -> CheckResult:
        self.out.print(f"[dim]checking {exercise.name} ...[/]")
        result = check(
            self.root, [exercise], folder=self.folder, started=self._take_ahead(exercise)
        )
        recorded = record_results(self.root, result.exercises) if self.folder is None else []
        for warning in recorded:
            self.notices.append(f"[yellow]warning:[/] {escape(warning)}")
        if result.passed:
            self.passed.add(exercise.name)
        return result

    def _first_unfinished(self) -> Exercise | None:
        progress = load_progress(self.root)
        if progress.warning:
            self.notices.append(f"[yellow]warning:[/] {escape(progress.warning)}")
        done = self.passed | progress.passed()
        return next((e for e in self.exercises if e.name not in done), None)

    def _move_on(self, exercise: Exercise, result: CheckResult) -> Exercise | None:
        following = self._first_unfinished()
        if following is None:
            total = len(self.exercises)
            self._draw(result, f"[green]All {total} exercises passed.[/] {WATCH_ONE}")
            return None
        self._draw(result, f"{exercise.name} passed; checking {following.name} next · {QUIT}")
        self.notices.append(
            f"[green]✓ {exercise.name} passed.[/] Now on {following.name}, "
            "the first exercise you have not finished."
        )
        self.why = FIRST_UNFINISHED
        return following

    def _status(self, exercise: Exercise) -> str:
        how = f" [dim]({escape(self.watcher.how)})[/]" if self.watcher.polling else ""
        path = self._path(exercise).relative_to(self.root)
        return (
            f"{self._countdown()}watching {path}{self.why}{how} — save to re-check, {QUIT}"
            f"  [dim]checked at {time.strftime('%H:%M:%S')}[/]"
        )

    def _countdown(self) -> str:
        """The interview's time left, or that it is up (then what to do), as a first line."""
        if self.interview is None:
            return ""
        left = self._minutes_left()
        until = self.interview.deadline.astimezone().strftime("%H:%M")
        if left:
            return f"[bold]interview: {left} min left[/] (until {until}) · {SUBMIT}\n"
        return (
            f"[bold red]interview: the time is up[/] (at {until}): {SUBMIT} "
            "(graded, marked overtime)\n"
        )

    def _draw(self, result: CheckResult, status: str) -> None:
        """One frame, written at once: the screen is cleared (in a terminal), then the notices,
        the report and the status line. In a terminal the report is cut to fit its height, so
        that its top (the header and the first failure) stays on the screen."""
        report = self._rendered(lambda: self.draw(self.out, result))
        around = self._rendered(lambda: self.out.print("\n".join([*self.notices, "", status])))
        room = self.out.height - len(around) - 1  # the cursor's line after the status
        more = ""
        if self.out.is_terminal and len(report) > room:
            name = result.exercises[0].name if result.exercises else "NAME"
            more = MORE_LINES.format(count=len(report) - room + 1, name=name)
            report = report[: room - 1]
        with self.out:
            self.out.clear()
            for notice in self.notices:
                self.out.print(notice)
            for line in report:
                self.out.print(Text.from_ansi(line), soft_wrap=True)
            if more:
                self.out.print(more)
            self.out.print()
            self.out.print(status)
        self.notices.clear()

    def _rendered(self, printing: Callable[[], object]) -> list[str]:
        """The lines `printing` prints on the console (styled as a terminal shows them)."""
        with self.out.capture() as captured:
            printing()
        return captured.get().splitlines()
