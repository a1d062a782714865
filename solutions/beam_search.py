"""Decoding: greedy search and beam search over a language model's next-token log-probabilities.

A language model gives, for a prefix of tokens, the log-probability of every possible next token.
Implement two ways to turn it into a sequence:
- `greedy_decode`: take the single most likely token at every step.
- `beam_search`: keep the few best partial sequences (hypotheses) at every step, so that a token
  that looks worse now can still win later; return the finished hypotheses best first, with an
  optional length penalty so that short sequences are not favoured just for being short.
The model is the argument `log_prob_fn`: call it with a list of ints (the prefix, starting with
`bos_id`) and it returns a numpy array of shape (vocab,). Return plain Python lists, ints and
floats.

References:
- Sutskever, Vinyals and Le (2014), "Sequence to Sequence Learning with Neural Networks",
  arXiv:1409.3215, section 3.1 (left-to-right beam search decoder).
- Jurafsky and Martin, "Speech and Language Processing" (3rd ed. draft), chapter "Machine
  Translation", beam search: a finished hypothesis leaves the beam and the beam shrinks by one.
- Wu et al. (2016), "Google's Neural Machine Translation System", arXiv:1609.08144, section 7
  (length normalization; this exercise uses the simpler score / length ** alpha).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

LogProbFn = Callable[[list[int]], np.ndarray]


def greedy_decode(log_prob_fn: LogProbFn, bos_id: int, eos_id: int, max_len: int) -> list[int]:
    """Greedy decoding: the most likely next token at every step.

    log_prob_fn(tokens: list[int]) -> ndarray (vocab,): log-probabilities of the next token after
    the prefix `tokens`, which always starts with bos_id.
    Start from [bos_id]; append the argmax of log_prob_fn(tokens) (the lowest id on a tie) until
    the appended token is eos_id (keep it) or max_len tokens have been generated (bos_id does not
    count). Returns the tokens, bos_id first: at most max_len + 1 ints.
    """
    tokens = [bos_id]
    for _ in range(max_len):
        log_probs = np.asarray(log_prob_fn(list(tokens)), dtype=np.float64)  # (vocab,)
        next_id = int(np.argmax(log_probs))  # the first maximum: the lowest id on a tie
        tokens.append(next_id)
        if next_id == eos_id:
            break
    return tokens


def beam_search(
    log_prob_fn: LogProbFn,
    bos_id: int,
    eos_id: int,
    beam_width: int,
    max_len: int,
    length_penalty: float = 0.0,
) -> list[tuple[list[int], float]]:
    """Beam search: the beam_width best hypotheses, best first.

    log_prob_fn(tokens: list[int]) -> ndarray (vocab,), as in greedy_decode.
    A hypothesis is a token list starting with bos_id; its score is the sum of the log-probs of
    its generated tokens (everything after bos_id). The search, exactly:
        live = [[bos_id]] with score 0; finished = []
        while live and len(finished) < beam_width and fewer than max_len tokens generated:
            expand every live hypothesis by every token of the vocabulary;
            keep the (beam_width - len(finished)) best expansions by score (over all of them);
            those that end in eos_id join finished, the others are the new live.
        every hypothesis still live joins finished.
    Returns finished as a list of (tokens, normalized score) tuples, best normalized score first,
    at most beam_width of them, where
        normalized score = score / generated_length ** length_penalty
    and generated_length counts the tokens after bos_id (eos_id included). length_penalty = 0
    leaves the scores as they are. Ties are not graded. beam_width = 1 gives the greedy sequence.
    """
    live: list[tuple[list[int], float]] = [([bos_id], 0.0)]
    finished: list[tuple[list[int], float]] = []
    generated = 0
    while live and len(finished) < beam_width and generated < max_len:
        expansions = _expand(log_prob_fn, live)
        budget = beam_width - len(finished)
        kept = sorted(expansions, key=lambda hyp: hyp[1], reverse=True)[:budget]
        finished += [hyp for hyp in kept if hyp[0][-1] == eos_id]
        live = [hyp for hyp in kept if hyp[0][-1] != eos_id]
        generated += 1
    finished += live
    normalized = [(tokens, _normalize(score, tokens, length_penalty)) for tokens, score in finished]
    return sorted(normalized, key=lambda hyp: hyp[1], reverse=True)[:beam_width]


def _expand(
    log_prob_fn: LogProbFn, live: Sequence[tuple[list[int], float]]
) -> list[tuple[list[int], float]]:
    """Every live hypothesis extended by every token of the vocabulary, with its new score."""
    expansions = []
    for tokens, score in live:
        log_probs = np.asarray(log_prob_fn(list(tokens)), dtype=np.float64)  # (vocab,)
        for token, log_prob in enumerate(log_probs.tolist()):
            expansions.append(([*tokens, token], score + log_prob))
    return expansions


def _normalize(score: float, tokens: Sequence[int], length_penalty: float) -> float:
    """score / generated_length ** length_penalty; generated_length excludes bos, includes eos."""
    generated_length = len(tokens) - 1
    return float(score / generated_length**length_penalty)
