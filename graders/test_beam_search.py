"""Grader for beam_search: greedy_decode and beam_search on hand-made and random language models.

The models are the grader's own functions, passed as `log_prob_fn`: the learner's code calls back
into them with a list of ints and gets a numpy array (vocab,). A model's log-probs depend only on
the prefix (a seeded random row per prefix, or a hand-written table), so every search is
reproducible. Random models have continuous log-probs: no ties, which the contract does not grade
for beam search (greedy's lowest-id tie-break is graded, with an exact tie).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import ATOL, RTOL, Mismatch, assert_close, describe, two_at_once
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import beam_search as fixtures
from transformer_kit.solutions import beam_search as reference

Beams = list[tuple[list[int], float]]
Model = Callable[[tuple[int, ...]], np.ndarray]  # prefix -> log-probs (vocab,)
LogProbFn = Callable[[Sequence[int]], np.ndarray]

# --------------------------------------------------------------------------------------------
# Models


def table_model(rows: Mapping[tuple[int, ...], Sequence[float]]) -> Model:
    """A hand-made model: the log of the fixture's row of probabilities for the prefix."""

    def log_probs(prefix: tuple[int, ...]) -> np.ndarray:
        return np.log(np.asarray(rows.get(prefix, fixtures.DEFAULT), dtype=np.float64))

    return log_probs


@functools.cache
def random_model(seed: int, vocab: int, eos_id: int, eos_bias: float = 0.0) -> Model:
    """A random model: log-softmax of seeded logits, one independent row per prefix."""

    @functools.cache
    def log_probs(prefix: tuple[int, ...]) -> np.ndarray:
        rng = np.random.default_rng([seed, len(prefix), *prefix])
        logits = 2.0 * rng.standard_normal(vocab)  # (vocab,)
        logits[eos_id] += eos_bias
        return logits - np.logaddexp.reduce(logits)  # (vocab,) log-probs

    return log_probs


def plain_fn(model: Model) -> LogProbFn:
    """The model as a log_prob_fn for the grader's own searches."""
    return lambda tokens: model(tuple(int(t) for t in tokens)).copy()


def watched(model: Model, bos_id: int) -> tuple[LogProbFn, list[str]]:
    """The model as the learner's log_prob_fn, noting calls that break the contract."""
    problems: list[str] = []

    def lm(tokens: Sequence[int]) -> np.ndarray:
        prefix = tuple(int(t) for t in tokens)
        if not prefix or prefix[0] != bos_id:
            problems.append(
                f"log_prob_fn was called with {list(prefix)}, which does not start with "
                f"bos_id={bos_id}: pass the whole prefix, bos_id first"
            )
        return model(prefix).copy()

    return lm, problems


@dataclass(frozen=True)
class Case:
    """One search on a random model."""

    seed: int
    vocab: int
    bos_id: int
    eos_id: int
    max_len: int
    beam_width: int = 1
    length_penalty: float = 0.0
    eos_bias: float = 0.0

    @property
    def model(self) -> Model:
        return random_model(self.seed, self.vocab, self.eos_id, self.eos_bias)

    @property
    def lm_text(self) -> str:
        bias = f", eos logit {self.eos_bias:+g}" if self.eos_bias else ""
        return f"lm = random model (seed={self.seed}, vocab={self.vocab}{bias})"

    def greedy_call(self) -> str:
        return (
            f"greedy_decode(lm, {self.bos_id}, {self.eos_id}, {self.max_len}) with {self.lm_text}"
        )

    def beam_args(self) -> tuple[int, int, int, int]:
        return self.bos_id, self.eos_id, self.beam_width, self.max_len

    def beam_call(self) -> str:
        penalty = f", length_penalty={self.length_penalty:g}" if self.length_penalty else ""
        return (
            f"beam_search(lm, {self.bos_id}, {self.eos_id}, {self.beam_width}, {self.max_len}"
            f"{penalty}) with {self.lm_text}"
        )


# --------------------------------------------------------------------------------------------
# Classic mistakes, made on purpose so a failure can name them

GREEDY_MISTAKES = {
    "no_bos": "the result must start with bos_id: return [bos_id, ...generated tokens]",
    "no_stop": "greedy did not stop at eos_id: stop right after appending it",
    "drops_eos": "eos_id was left out: append it to the result, then stop",
    "tie_highest": "on a tie greedy must pick the lowest token id (np.argmax does)",
    "max_len+1": "one token too many: generate at most max_len tokens after bos_id",
    "max_len-1": "one token too few: generate up to max_len tokens after bos_id",
}

FULL_BEAM = (
    "the beam was kept full (finished hypotheses set aside and replaced by the next best "
    "expansions, as HF, whisper and fairseq do): this kit's search shrinks the beam, keeping "
    "the (beam_width - len(finished)) best expansions at each step"
)
BUDGET = (
    "finished hypotheses did not shrink the beam: keep only the "
    "(beam_width - len(finished)) best expansions at each step"
)
# Each mistake with the options that make it in `beam_variant` (a description may have several).
BEAM_MISTAKES: list[tuple[str, dict[str, Any]]] = [
    (BUDGET, {"budget": "shared"}),
    (BUDGET, {"budget": "shared", "truncate": False}),  # and the result not cut to beam_width
    (FULL_BEAM, {"budget": "full"}),  # whisper: every eos met before the beam is full finishes
    (FULL_BEAM, {"budget": "full ranked"}),  # HF, fairseq: only an eos among the first beam_width
    (
        "the length penalty is not applied: normalized score = "
        "score / generated_length ** length_penalty",
        {"penalty": "none"},
    ),
    (
        "a GNMT length penalty, ((5 + L) / 6) ** length_penalty (as whisper and Google's NMT): "
        "this kit's normalized score is score / generated_length ** length_penalty",
        {"penalty": "gnmt"},
    ),
    (
        "the score was normalised by the length although length_penalty=0 (whisper's default): "
        "this kit's normalized score is score / generated_length ** length_penalty, so "
        "length_penalty=0 leaves the score as it is",
        {"zero_penalty": "length"},
    ),
    (
        "generated_length counted bos_id (the start token): count only the tokens after bos_id "
        "(eos_id included)",
        {"length": "counts bos"},
    ),
    (
        "generated_length left out eos_id: count every token after bos_id, eos_id included",
        {"length": "without eos"},
    ),
    (
        "sorted by the raw score: sort the finished hypotheses by their normalized score",
        {"sort": "raw"},
    ),
    (
        "the hypotheses are not sorted: return them best normalized score first",
        {"sort": "none"},
    ),
    (
        "kept the best expansions of each hypothesis separately: keep the best "
        "(beam_width - len(finished)) of all expansions of all hypotheses together",
        {"expand": "per hypothesis"},
    ),
    (
        "each hypothesis was extended by its own best token only: compare the "
        "expansions of all hypotheses by every token",
        {"expand": "parallel greedy"},
    ),
    (
        "the scores are products of probabilities: a score is the sum of the "
        "log-probabilities of the generated tokens",
        {"product": True},
    ),
    (
        "hypotheses still live when the search stops were dropped: they join finished at the end",
        {"live_dropped": True},
    ),
    (
        "hypotheses ending in eos_id were expanded further: they are finished and leave the beam",
        {"eos_expanded": True},
    ),
    ("one step too many: generate at most max_len tokens after bos_id", {"steps": 1}),
    ("one step too few: generate up to max_len tokens after bos_id", {"steps": -1}),
]


def greedy_variant(
    log_prob_fn: LogProbFn, bos_id: int, eos_id: int, max_len: int, mistake: str
) -> list[int]:
    """greedy_decode with one mistake from GREEDY_MISTAKES made on purpose."""
    steps = max_len + {"max_len+1": 1, "max_len-1": -1}.get(mistake, 0)
    tokens = [bos_id]
    for _ in range(steps):
        log_probs = np.asarray(log_prob_fn(list(tokens)), dtype=np.float64)  # (vocab,)
        if mistake == "tie_highest":
            next_id = len(log_probs) - 1 - int(np.argmax(log_probs[::-1]))
        else:
            next_id = int(np.argmax(log_probs))
        if next_id == eos_id and mistake == "drops_eos":
            break
        tokens.append(next_id)
        if next_id == eos_id and mistake != "no_stop":
            break
    return tokens[1:] if mistake == "no_bos" else tokens


def beam_variant(
    log_prob_fn: LogProbFn,
    bos_id: int,
    eos_id: int,
    beam_width: int,
    max_len: int,
    length_penalty: float,
    **mistakes: Any,
) -> Beams:
    """beam_search with the mistakes given as options (see BEAM_MISTAKES) made on purpose."""
    product, budget_rule, expand = (
        mistakes.get("product"),
        mistakes.get("budget"),
        mistakes.get("expand"),
    )
    live: Beams = [([bos_id], 1.0 if product else 0.0)]
    finished: Beams = []
    for step in range(max_len + mistakes.get("steps", 0)):
        if not live or len(finished) >= beam_width:
            break
        budget = beam_width if budget_rule else beam_width - len(finished)
        expansions: Beams = []
        for tokens, score in live:
            log_probs = np.asarray(log_prob_fn(list(tokens)), dtype=np.float64).tolist()
            own = [
                ([*tokens, t], score * float(np.exp(lp)) if product else score + lp)
                for t, lp in enumerate(log_probs)
            ]
            own.sort(key=lambda hyp: hyp[1], reverse=True)
            if expand == "per hypothesis":
                own = own[:budget]
            elif expand == "parallel greedy" and step > 0:
                own = own[:1]
            expansions += own
        expansions.sort(key=lambda hyp: hyp[1], reverse=True)
        if budget_rule in ("full", "full ranked"):
            live = _fill_beam(expansions, finished, eos_id, beam_width, budget_rule == "full")
            continue
        pruned = expand == "per hypothesis" or (expand == "parallel greedy" and step > 0)
        kept = expansions if pruned else expansions[:budget]
        if mistakes.get("eos_expanded"):
            live = kept
            continue
        finished += [hyp for hyp in kept if hyp[0][-1] == eos_id]
        live = [hyp for hyp in kept if hyp[0][-1] != eos_id]
    if not mistakes.get("live_dropped"):
        finished += live
    result = [
        (tokens, _normalized(tokens, score, eos_id, length_penalty, mistakes))
        for tokens, score in finished
    ]
    if mistakes.get("sort") == "raw":
        order = sorted(range(len(finished)), key=lambda i: finished[i][1], reverse=True)
        result = [result[i] for i in order]
    elif mistakes.get("sort") != "none":
        result.sort(key=lambda hyp: hyp[1], reverse=True)
    return result if mistakes.get("truncate", True) is False else result[:beam_width]


def _fill_beam(
    expansions: Beams, finished: Beams, eos_id: int, beam_width: int, any_rank: bool
) -> Beams:
    """The beam kept full: the best expansions not ending in eos_id, beam_width of them; those
    ending in eos_id met on the way join `finished` (whisper: all of them; HF and fairseq: only
    those among the first beam_width)."""
    live: Beams = []
    for rank, hyp in enumerate(expansions):
        if len(live) == beam_width:
            break
        if hyp[0][-1] != eos_id:
            live.append(hyp)
        elif any_rank or rank < beam_width:
            finished.append(hyp)
    return live


def _normalized(
    tokens: list[int], score: float, eos_id: int, length_penalty: float, mistakes: Mapping[str, Any]
) -> float:
    """The normalized score, with the length and penalty mistakes of `mistakes`."""
    if mistakes.get("penalty") == "none":
        return score
    length = len(tokens) - 1 + (mistakes.get("length") == "counts bos")
    length -= mistakes.get("length") == "without eos" and tokens[-1] == eos_id
    with np.errstate(divide="ignore", invalid="ignore"):
        if length_penalty == 0 and mistakes.get("zero_penalty") == "length":
            return float(np.float64(score) / np.float64(length))
        if mistakes.get("penalty") == "gnmt":
            return float(np.float64(score) / ((5.0 + length) / 6.0) ** length_penalty)
        return float(np.float64(score) / np.float64(length) ** length_penalty)


def greedy_wrongs(
    log_prob_fn: LogProbFn, bos_id: int, eos_id: int, max_len: int
) -> list[tuple[str, list[int]]]:
    return [
        (text, greedy_variant(log_prob_fn, bos_id, eos_id, max_len, mistake))
        for mistake, text in GREEDY_MISTAKES.items()
    ]


def beam_wrongs(
    log_prob_fn: LogProbFn,
    bos_id: int,
    eos_id: int,
    beam_width: int,
    max_len: int,
    length_penalty: float,
    *,
    pairs: bool = False,
) -> list[tuple[str, Beams]]:
    """What each classic mistake gives, or with `pairs` each two mistakes made together."""
    args = (log_prob_fn, bos_id, eos_id, beam_width, max_len, length_penalty)
    made = two_at_once(BEAM_MISTAKES) if pairs else BEAM_MISTAKES
    return [(text, beam_variant(*args, **options)) for text, options in made]


def brute_force(
    model: Model, bos_id: int, eos_id: int, vocab: int, max_len: int, length_penalty: float
) -> Beams:
    """Every sequence the model can produce (ended by eos_id or max_len), best first."""
    sequences: Beams = []

    def walk(prefix: tuple[int, ...], score: float) -> None:
        generated = len(prefix) - 1
        if generated and (prefix[-1] == eos_id or generated == max_len):
            sequences.append((list(prefix), score / generated**length_penalty))
            return
        log_probs = model(prefix)
        for token in range(vocab):
            walk((*prefix, token), score + float(log_probs[token]))

    walk((bos_id,), 0.0)
    return sorted(sequences, key=lambda hyp: hyp[1], reverse=True)


# --------------------------------------------------------------------------------------------
# Checks


def as_tokens(got: Any, *, call: str, what: str = "result") -> list[int]:
    """A token list as Python ints, or a Mismatch saying why it is not one."""
    if got is None:
        raise Mismatch(f"the {what} is None: did the function forget to `return`?", call=call)
    if isinstance(got, np.ndarray) and got.ndim == 1 and got.dtype.kind in "iu":
        return [int(t) for t in got]
    if isinstance(got, (list, tuple)) and all(
        isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in got
    ):
        return [int(t) for t in got]
    raise Mismatch(f"the {what} should be a list of ints (token ids)", call=call, got=_short(got))


def as_beams(got: Any, *, call: str) -> Beams:
    """A list of (tokens, score) pairs, or a Mismatch saying why it is not one."""
    if got is None:
        raise Mismatch("the result is None: did the function forget to `return`?", call=call)
    if not isinstance(got, (list, tuple)):
        raise Mismatch(
            "the result should be a list of (tokens, score) tuples", call=call, got=describe(got)
        )
    beams: Beams = []
    for i, item in enumerate(got):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise Mismatch(
                f"entry {i} of the result should be a (tokens, score) tuple",
                call=call,
                got=_short(item),
            )
        tokens = as_tokens(item[0], call=call, what=f"tokens of entry {i}")
        score = np.asarray(item[1]) if _is_number(item[1]) else None
        if score is None or score.shape != ():
            raise Mismatch(
                f"the score of entry {i} should be a number (float)",
                call=call,
                got=_short(item[1]),
            )
        beams.append((tokens, float(score)))
    return beams


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, np.number)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in "iuf"


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def show_beams(beams: Beams, limit: int = 8) -> str:
    items = [f"({tokens}, {score:.6g})" for tokens, score in beams[:limit]]
    if len(beams) > limit:
        items.append(f"... {len(beams) - limit} more")
    return "[" + ", ".join(items) + "]"


def same_beams(a: Beams, b: Beams) -> bool:
    return (
        len(a) == len(b)
        and all(ta == tb for (ta, _), (tb, _) in zip(a, b, strict=False))
        and bool(
            np.allclose([s for _, s in a], [s for _, s in b], rtol=RTOL, atol=ATOL, equal_nan=True)
        )
    )


def named(matches: Sequence[str]) -> str:
    """The mistakes a result matches, each once (one result can fit several)."""
    return "; or ".join(dict.fromkeys(matches))


def check_tokens(
    got: Any,
    expected: list[int],
    *,
    call: str,
    wrongs: Sequence[tuple[str, list[int]]] = (),
    bos_id: int,
    eos_id: int,
    max_len: int,
    problems: Sequence[str] = (),
) -> None:
    """The learner's greedy tokens equal `expected`, or a Mismatch that names the mistake."""
    tokens = as_tokens(got, call=call)
    if tokens == expected:
        return
    diagnosis = named([text for text, wrong in wrongs if wrong == tokens])
    if not diagnosis:
        if not tokens or tokens[0] != bos_id:
            diagnosis = f"the result must start with bos_id={bos_id}"
        elif len(tokens) - 1 > max_len:
            diagnosis = f"more than max_len={max_len} tokens were generated after bos_id"
        elif eos_id in tokens[1:-1]:
            diagnosis = f"the result continues after eos_id={eos_id}: stop right after it"
        elif problems:
            diagnosis = problems[0]
    index = next(
        (i for i, (a, b) in enumerate(zip(tokens, expected, strict=False)) if a != b), None
    )
    if index is None:
        where = f"expected {len(expected)} tokens, got {len(tokens)}"
    else:
        where = f"position {index}: expected {expected[index]}, got {tokens[index]}"
    raise Mismatch(
        "the decoded tokens are wrong",
        call=call,
        expected=repr(expected),
        got=repr(tokens),
        where=where,
        diagnosis=diagnosis,
    )


def check_beams(
    got: Any,
    expected: Beams,
    *,
    call: str,
    wrongs: Sequence[tuple[str, Beams]] = (),
    bos_id: int,
    eos_id: int,
    beam_width: int,
    max_len: int,
    problems: Sequence[str] = (),
    summary: str = "",
    pairs: Callable[[], Sequence[tuple[str, Beams]]] = list,
) -> None:
    """The learner's hypotheses equal `expected` (tokens exactly, scores within tolerance, order
    and length), or a Mismatch that names the mistake: one of `wrongs`, else two at once
    (`pairs()`, computed only then)."""
    beams = as_beams(got, call=call)
    if same_beams(beams, expected):
        return
    diagnosis = named([text for text, wrong in wrongs if same_beams(beams, wrong)])
    if not diagnosis:
        diagnosis = named([text for text, wrong in pairs() if same_beams(beams, wrong)][:2])
    diagnosis = diagnosis or _beam_diagnosis(
        beams, expected, bos_id, eos_id, beam_width, max_len, problems
    )
    shown = {"call": call, "expected": show_beams(expected), "got": show_beams(beams)}
    prefix = f"{summary}: " if summary else ""
    if len(beams) != len(expected):
        raise Mismatch(
            f"{prefix}returned {len(beams)} hypotheses, expected {len(expected)}",
            diagnosis=diagnosis,
            **shown,
        )
    for i, ((tokens, _), (want, _)) in enumerate(zip(beams, expected, strict=True)):
        if tokens != want:
            raise Mismatch(
                f"{prefix}hypothesis {i} (0 = best) has the wrong tokens",
                where=f"hypothesis {i}: expected {want}, got {tokens}",
                diagnosis=diagnosis,
                **shown,
            )
    try:
        assert_close(
            [score for _, score in beams],
            [score for _, score in expected],
            call=call,
            what="list of normalized scores",
        )
    except Mismatch as mismatch:
        mismatch.summary = prefix + mismatch.summary
        mismatch.diagnosis = diagnosis or mismatch.diagnosis
        mismatch.details.append(f"hypotheses: expected {shown['expected']}")
        mismatch.details.append(f"hypotheses: got {shown['got']}")
        raise


def _beam_diagnosis(
    beams: Beams,
    expected: Beams,
    bos_id: int,
    eos_id: int,
    beam_width: int,
    max_len: int,
    problems: Sequence[str],
) -> str:
    if len(beams) > beam_width:
        return f"at most beam_width={beam_width} hypotheses are returned"
    if any(not tokens or tokens[0] != bos_id for tokens, _ in beams):
        return f"every hypothesis must start with bos_id={bos_id}"
    if any(len(tokens) - 1 > max_len for tokens, _ in beams):
        return f"a hypothesis has more than max_len={max_len} tokens after bos_id"
    if any(eos_id in tokens[1:-1] for tokens, _ in beams):
        return (
            f"a hypothesis continues after eos_id={eos_id}: a hypothesis ending in eos_id is "
            "finished and leaves the beam"
        )
    scores = [score for _, score in beams]
    if scores != sorted(scores, reverse=True):
        return "the hypotheses are not sorted: return them best normalized score first"
    if sorted(tokens for tokens, _ in beams) == sorted(tokens for tokens, _ in expected):
        return "the right hypotheses in another order: sort by normalized score, best first"
    return problems[0] if problems else ""


# --------------------------------------------------------------------------------------------
# Runners


def run_greedy(student: Any, model: Model, args: tuple[int, int, int], call: str) -> None:
    bos_id, eos_id, max_len = args
    lm, problems = watched(model, bos_id)
    got = student.greedy_decode(lm, bos_id, eos_id, max_len)
    reference_fn = plain_fn(model)
    check_tokens(
        got,
        reference.greedy_decode(reference_fn, bos_id, eos_id, max_len),
        call=call,
        wrongs=greedy_wrongs(reference_fn, bos_id, eos_id, max_len),
        bos_id=bos_id,
        eos_id=eos_id,
        max_len=max_len,
        problems=problems,
    )


def run_beam(
    student: Any,
    model: Model,
    args: tuple[int, int, int, int],
    length_penalty: float,
    call: str,
    expected: Beams | None = None,
    summary: str = "",
) -> None:
    bos_id, eos_id, beam_width, max_len = args
    lm, problems = watched(model, bos_id)
    kwargs = {"length_penalty": length_penalty} if length_penalty else {}
    try:
        got = student.beam_search(lm, *args, **kwargs)
    except StudentRaised as error:
        if "ZeroDivisionError" not in error.type_names:
            raise
        raise Mismatch(
            error.summary,
            call=call,
            details=[f"where:\n{error.where}"] if error.where else [],
            diagnosis="a generated_length of 0: it counts every token after bos_id, eos_id "
            "included, so it is at least 1",
        ) from None
    reference_fn = plain_fn(model)
    if expected is None:
        expected = reference.beam_search(reference_fn, *args, length_penalty)
    check_beams(
        got,
        expected,
        call=call,
        wrongs=beam_wrongs(reference_fn, *args, length_penalty),
        bos_id=bos_id,
        eos_id=eos_id,
        beam_width=beam_width,
        max_len=max_len,
        problems=problems,
        summary=summary,
        pairs=lambda: beam_wrongs(reference_fn, *args, length_penalty, pairs=True),
    )


def run_beam_case(student: Any, case: Case, **options: Any) -> None:
    run_beam(
        student, case.model, case.beam_args(), case.length_penalty, case.beam_call(), **options
    )


def run_greedy_case(student: Any, case: Case) -> None:
    args = (case.bos_id, case.eos_id, case.max_len)
    run_greedy(student, case.model, args, case.greedy_call())


def fixture_beam(student: Any, rows: Mapping, spec: Mapping[str, Any], model_name: str) -> None:
    width, max_len, penalty = spec["beam_width"], spec["max_len"], spec["length_penalty"]
    args = (fixtures.BOS, fixtures.EOS, width, max_len)
    penalty_text = f", length_penalty={penalty:g}" if penalty else ""
    call = (
        f"beam_search(lm, {fixtures.BOS}, {fixtures.EOS}, {width}, {max_len}{penalty_text}) "
        f"with lm = hand-made model {model_name} (vocab 0=<bos>, 1=<eos>, 2=a, 3=b)"
    )
    expected = [(list(tokens), float(score)) for tokens, score in spec["expected"]]
    run_beam(student, table_model(rows), args, penalty, call, expected=expected)


# --------------------------------------------------------------------------------------------
# greedy_decode


def test_greedy_fixtures(student: Any) -> None:
    """greedy follows the argmax on hand-made models"""
    for name, rows, max_len, expected in (
        ("A", fixtures.MODEL_A, 3, fixtures.GREEDY_A),
        ("B", fixtures.MODEL_B, 3, fixtures.GREEDY_B),
        ("B", fixtures.MODEL_B, 2, fixtures.GREEDY_B_MAX_LEN_2),
        ("B", fixtures.MODEL_B, 1, fixtures.GREEDY_B_MAX_LEN_1),
    ):
        call = f"greedy_decode(lm, 0, 1, {max_len}) with lm = hand-made model {name}"
        model = table_model(rows)
        lm, problems = watched(model, fixtures.BOS)
        got = student.greedy_decode(lm, fixtures.BOS, fixtures.EOS, max_len)
        check_tokens(
            got,
            list(expected),
            call=call,
            wrongs=greedy_wrongs(plain_fn(model), fixtures.BOS, fixtures.EOS, max_len),
            bos_id=fixtures.BOS,
            eos_id=fixtures.EOS,
            max_len=max_len,
            problems=problems,
        )


def test_greedy_tie(student: Any) -> None:
    """greedy picks the lowest id on a tie"""
    model = table_model(fixtures.MODEL_T)
    lm, problems = watched(model, fixtures.BOS)
    got = student.greedy_decode(lm, fixtures.BOS, fixtures.EOS, 3)
    check_tokens(
        got,
        list(fixtures.GREEDY_T),
        call="greedy_decode(lm, 0, 1, 3) with lm = hand-made model T "
        "(p = [.1, .2, .35, .35] after <bos>: tokens 2 and 3 tie)",
        wrongs=greedy_wrongs(plain_fn(model), fixtures.BOS, fixtures.EOS, 3),
        bos_id=fixtures.BOS,
        eos_id=fixtures.EOS,
        max_len=3,
        problems=problems,
    )


GREEDY_CASES = [
    Case(seed=11, vocab=5, bos_id=0, eos_id=1, max_len=6, eos_bias=0.5),
    Case(seed=12, vocab=4, bos_id=3, eos_id=0, max_len=5),
]


@pytest.mark.parametrize("case", GREEDY_CASES, ids=lambda c: f"seed={c.seed}")
def test_greedy_random(student: Any, case: Case) -> None:
    """greedy matches the reference on random models"""
    run_greedy_case(student, case)


# A model that says eos_id early (checked in tests/exercises/test_beam_search_oracle.py).
GREEDY_EOS_CASE = Case(seed=13, vocab=4, bos_id=0, eos_id=2, max_len=6, eos_bias=1.5)
# A model that (almost) never says eos_id: greedy runs to max_len.
GREEDY_LONG_CASE = Case(seed=14, vocab=4, bos_id=1, eos_id=0, max_len=4, eos_bias=-8.0)


def test_greedy_stops_at_eos(student: Any) -> None:
    """greedy stops at eos_id and keeps it"""
    run_greedy_case(student, GREEDY_EOS_CASE)


def test_greedy_max_len(student: Any) -> None:
    """greedy generates at most max_len tokens"""
    run_greedy_case(student, GREEDY_LONG_CASE)


# --------------------------------------------------------------------------------------------
# beam_search on hand-made models


def test_beam_beats_greedy(student: Any) -> None:
    """beam search finds a better sequence than greedy"""
    fixture_beam(student, fixtures.MODEL_A, fixtures.BEAM_A, "A")


@pytest.mark.weight(2)
def test_beam_budget_fixture(student: Any) -> None:
    """finished hypotheses shrink the beam (hand-made model)"""
    fixture_beam(student, fixtures.MODEL_B, fixtures.BEAM_B, "B")


def test_beam_live_at_max_len(student: Any) -> None:
    """hypotheses still live at max_len join finished"""
    fixture_beam(student, fixtures.MODEL_B, fixtures.BEAM_B_LIVE_AT_MAX_LEN, "B")


@pytest.mark.weight(2)
def test_beam_penalty_fixture(student: Any) -> None:
    """the length penalty reorders the hypotheses (hand-made model)"""
    fixture_beam(student, fixtures.MODEL_B, fixtures.BEAM_B_PENALTY, "B")


# --------------------------------------------------------------------------------------------
# beam_search on random models

BEAM_CASES = [
    Case(seed=1, vocab=4, bos_id=0, eos_id=1, max_len=4, beam_width=3, eos_bias=0.5),
    Case(seed=2, vocab=5, bos_id=3, eos_id=0, max_len=5, beam_width=2, eos_bias=1.0),
    Case(
        seed=3, vocab=4, bos_id=2, eos_id=3, max_len=4, beam_width=3, length_penalty=1, eos_bias=1
    ),
    Case(
        seed=4,
        vocab=3,
        bos_id=0,
        eos_id=2,
        max_len=5,
        beam_width=4,
        length_penalty=0.6,
        eos_bias=0.5,
    ),
]


def _case_id(case: Case) -> str:
    penalty = f",penalty={case.length_penalty:g}" if case.length_penalty else ""
    return f"seed={case.seed},width={case.beam_width}{penalty}"


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", BEAM_CASES, ids=_case_id)
def test_beam_random(student: Any, case: Case) -> None:
    """beam search matches the reference on random models"""
    run_beam_case(student, case)


# Wide enough to keep every sequence: beam_width = vocab ** max_len.
EXHAUSTIVE_CASES = [
    Case(seed=31, vocab=3, bos_id=0, eos_id=1, max_len=2, beam_width=9),
    Case(seed=32, vocab=3, bos_id=2, eos_id=0, max_len=2, beam_width=9, length_penalty=1.0),
]


@pytest.mark.parametrize("case", EXHAUSTIVE_CASES, ids=_case_id)
def test_beam_exhaustive(student: Any, case: Case) -> None:
    """a beam wide enough returns every sequence, best first"""
    expected = brute_force(
        case.model, case.bos_id, case.eos_id, case.vocab, case.max_len, case.length_penalty
    )
    run_beam_case(
        student,
        case,
        expected=expected,
        summary=f"with beam_width={case.beam_width} every sequence survives",
    )


WIDTH_ONE_CASES = [
    Case(seed=21, vocab=4, bos_id=0, eos_id=1, max_len=5, beam_width=1, eos_bias=0.5),
    Case(seed=22, vocab=5, bos_id=2, eos_id=4, max_len=4, beam_width=1, length_penalty=1.0),
]


@pytest.mark.parametrize("case", WIDTH_ONE_CASES, ids=_case_id)
def test_beam_width_one(student: Any, case: Case) -> None:
    """beam width 1 gives the greedy sequence"""
    model = case.model
    tokens = reference.greedy_decode(plain_fn(model), case.bos_id, case.eos_id, case.max_len)
    score = sum(float(model(tuple(tokens[:i]))[tokens[i]]) for i in range(1, len(tokens)))
    expected = [(tokens, score / (len(tokens) - 1) ** case.length_penalty)]
    run_beam_case(
        student, case, expected=expected, summary="beam_width=1 must give the greedy sequence"
    )


# eos_id is likely, so hypotheses finish before max_len and the beam shrinks (checked in
# tests/exercises/test_beam_search_oracle.py).
EARLY_EOS_CASE = Case(seed=57, vocab=4, bos_id=0, eos_id=1, max_len=5, beam_width=3, eos_bias=1.5)
# eos_id is (almost) never said: every hypothesis runs to max_len and is still live at the end.
LONG_CASE = Case(seed=51, vocab=4, bos_id=0, eos_id=3, max_len=3, beam_width=3, eos_bias=-8.0)


@pytest.mark.weight(2)
def test_beam_early_eos(student: Any) -> None:
    """finished hypotheses shrink the beam (random model)"""
    run_beam_case(student, EARLY_EOS_CASE)


def test_beam_max_len(student: Any) -> None:
    """beam search stops after max_len tokens"""
    run_beam_case(student, LONG_CASE)
