"""Retrieval for RAG: cosine similarity, top-k search, maximal marginal relevance, chunking.

Retrieval-augmented generation (RAG) answers a question with documents the model was never
trained on: split the documents into chunks, embed each chunk as a vector, embed the question the
same way, and pass the chunks most similar to the question to the model with the prompt.
Implement the retrieval half (numpy; torch inside is fine too; the embeddings are given):
- `cosine_similarity(a, b)`: every row of a against every row of b.
- `top_k(query, docs, k)`: the k documents most similar to the query.
- `mmr(query, docs, k, lam)`: maximal marginal relevance, relevant AND diverse documents (top-k
  returns five near-copies of one paragraph when a corpus holds them; MMR does not).
- `chunk_text(text, size, overlap)`: overlapping character windows.

Conventions, everywhere in this file:
- Vectors are float64 numpy arrays: a query (D,), documents (M, D), one per row.
- Similarity is cosine similarity, a . b / (|a| |b|) (the Euclidean norm), in [-1, 1]. It must
  hold for any norm, from 1e-6 to 1e6: do not add an eps to the norms or their product (|a||b| +
  1e-8 is 1% off when both norms are 1e-3). A zero vector has similarity 0 with everything, not
  nan: treat its norm as 1 (or clamp each norm at a tiny value, such as 1e-12, as torch and
  scikit-learn do).
- Indices are returned as a list of Python ints (a 1-D integer array is fine too), best first.
  Ties go to the lower index.
- Errors raise ValueError with a message naming the argument and its value ("k must be >= 1,
  got k=0").
- Never modify an input in place.

References:
- Lewis et al., "Retrieval-Augmented Generation for Knowledge-Intensive NLP Tasks" (2020),
  https://arxiv.org/abs/2005.11401
- Carbonell and Goldstein, "The Use of MMR, Diversity-Based Reranking for Reordering Documents and
  Producing Summaries" (SIGIR 1998)
- LangChain, `maximal_marginal_relevance` (langchain_core/vectorstores/utils.py), and its
  text splitters' chunk_size and chunk_overlap.
"""

from __future__ import annotations

import numpy as np


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of a (N, D) with every row of b (M, D): returns (N, M).

    result[i, j] = a[i] . b[j] / (|a[i]| |b[j]|). Holds for norms from 1e-6 to 1e6 (no eps added);
    a zero row has similarity 0 with every row (not nan).
    Example: a = [[1, 0], [3, 4]], b = [[3, 4], [0, 0], [-1, 0]] gives [[0.6, 0, -1],
    [1, 0, -0.6]] (3 / (1 * 5), the zero row 0, -1 / (1 * 1); 25 / (5 * 5), 0, -3 / (5 * 1)).
    """
    # TODO(retrieval): divide each row by its norm (a zero row stays zero), then a @ b.T.
    raise NotImplementedError


def top_k(query: np.ndarray, docs: np.ndarray, k: int) -> list[int]:
    """The indices of the k documents most cosine-similar to the query, most similar first.

    query (D,), docs (M, D). Ties (identical documents, zero vectors) go to the lower index.
    k > M returns all M indices. k < 1 raises ValueError naming k. Returns a list of ints.
    Example: query [1, 0], docs [[0, 1], [1, 1], [2, 0]] have similarities [0, 0.707, 1], so k = 1
    gives [2], k = 2 gives [2, 1], and k = 3 or k = 5 (> M) give [2, 1, 0].
    """
    # TODO(retrieval): check k; similarities to the query; a stable sort, most similar first;
    # the first k indices as Python ints.
    raise NotImplementedError


def mmr(query: np.ndarray, docs: np.ndarray, k: int, lam: float = 0.5) -> list[int]:
    """Maximal marginal relevance: k documents that are relevant to the query and not redundant.

    query (D,), docs (M, D). Greedily, until k are selected (or every document is), select the
    unselected document d with the highest score
        lam * sim(query, d) - (1 - lam) * max over selected s of sim(d, s)
    where sim is cosine similarity and the max is 0 while nothing is selected (so the first pick
    follows the same formula: at lam = 0 every first score is 0 and the first pick is doc 0).
    Once something is selected the max is over the selected documents only, even when it is
    negative. Ties go to the lower index. lam = 1 is top_k's order; lower lam favours diversity.
    lam outside [0, 1] or k < 1 raises ValueError naming the argument. A zero query is allowed
    (every similarity to it is 0). Returns a list of ints, in the order selected.
    Example: query [1, 0], docs [[1, 0], [1, 0], [0, 1]] (a duplicate pair), lam = 0.5: first doc 0
    (score 0.5 * 1); then doc 1 scores 0.5 * 1 - 0.5 * 1 = 0 and doc 2 scores 0.5 * 0 - 0.5 * 0 =
    0, a tie, so doc 1; returns [0, 1] for k = 2. With lam = 0.25, doc 2 wins (0 > 0.25 - 0.75):
    [0, 2] for k = 2, [0, 2, 1] for k = 3.
    """
    # TODO(retrieval): check lam and k; relevance to the query and similarities between docs;
    # select greedily, keeping each doc's max similarity to the selected ones.
    raise NotImplementedError


def chunk_text(text: str, size: int, overlap: int) -> list[str]:
    """Split text into overlapping windows of characters.

    Chunk i starts at character i * (size - overlap) and holds up to size characters. The last
    chunk is the first one that reaches the end of the text: no chunk lies wholly inside the one
    before it (so the last chunk may be shorter than size). "" gives [].
    size < 1, or overlap not in [0, size), raises ValueError naming the argument and its value.
    Example: chunk_text("abcdefg", 4, 2) gives ["abcd", "cdef", "efg"] (starts 0, 2, 4; "efg"
    reaches the end, so "g" at start 6 is not a chunk).
    """
    # TODO(retrieval): check size and overlap; windows every size - overlap characters, stopping
    # after the first one that reaches the end.
    raise NotImplementedError
