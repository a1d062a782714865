"""Known-wrong and correct-but-different versions of solutions/kv_cache.py."""

from __future__ import annotations

from . import Variant

ATTEND = "    weights = _softmax(np.where(allowed, scores, -np.inf))  # (B, h, t, S)"
ALLOWED = (
    "    allowed = np.arange(keys.shape[2]) <= start + np.arange(t)[:, None]  # (t, S): j <= p"
)
APPEND_THEN_READ = (
    "    cache.append(k, v)  # before attending: every token also attends to itself\n"
    "    keys, values = cache.keys, cache.values  # (B, h, S, d_k), S = start + t\n"
)
CHECK = "        if self._len + t > self.max_len:\n"
CHECK_BLOCK = (
    CHECK + "            raise ValueError(\n"
    '                f"cannot append {t} positions: the cache holds {self._len} of "\n'
    '                f"max_len={self.max_len}"\n'
    "            )\n"
)

# A cache kept as lists of chunks, joined on demand (used by several variants below).
LIST_CACHE = """
class KVCache:
    def __init__(self, max_len, batch, num_heads, head_dim):
        self.max_len = max_len
        self._keys, self._values = [], []
        self._len = 0

    def append(self, k, v):
        if {check}:
            raise ValueError(f"cache full: {{self._len}} + {{k.shape[2]}} > {{self.max_len}}")
        self._keys.{add}
        self._values.{add_v}
        self._len += k.shape[2]

    @property
    def keys(self):
        return np.concatenate(self._keys, axis=2)

    @property
    def values(self):
        return np.concatenate(self._values, axis=2)

    def __len__(self):
        return self._len
"""


def _list_cache(
    check: str = "self._len + k.shape[2] > self.max_len",
    add: str = "append(np.array(k))",
    add_v: str = "append(np.array(v))",
) -> str:
    return LIST_CACHE.format(check=check, add=add, add_v=add_v)


VARIANTS: list[Variant] = [
    # --- wrong -------------------------------------------------------------------------------
    Variant(
        "prefill without a causal mask",
        passes=False,
        replace=((ATTEND, "    weights = _softmax(scores)  # (B, h, t, S)"),),
        message="the prompt is attended without a causal mask",
    ),
    Variant(
        "new token does not attend to itself (< instead of <=)",
        passes=False,
        replace=((ALLOWED, ALLOWED.replace("<=", "<", 1)),),
        message="a new token must attend to itself",
    ),
    Variant(
        "position kept outside len(cache), on a counter of its own (llama's start_pos)",
        passes=False,
        replace=(
            (
                "    start = len(cache)  # absolute position of x_new[:, 0]\n",
                "    start = getattr(cache, 'position', 0)\n    cache.position = start + t\n",
            ),
        ),
        message="positions come from len(cache)",
    ),
    Variant(
        "cache updated after attending",
        passes=False,
        replace=(
            (
                APPEND_THEN_READ,
                "    keys, values = cache.keys, cache.values\n    cache.append(k, v)\n",
            ),
        ),
        message="a new token must attend to itself",
    ),
    Variant(
        "caches the inputs x instead of the projected keys and values",
        passes=False,
        replace=(
            (
                "    cache.append(k, v)  # before",
                "    k = v = _split_heads(x_new, num_heads)\n    cache.append(k, v)  # before",
            ),
        ),
        message="the cache holds the inputs x",
    ),
    Variant(
        "newest first (keys and values read back reversed)",
        passes=False,
        replace=(
            (
                "return self._k[:, :, : self._len]",
                "return self._k[:, :, : self._len][:, :, ::-1]",
            ),
            (
                "return self._v[:, :, : self._len]",
                "return self._v[:, :, : self._len][:, :, ::-1]",
            ),
        ),
        message="the cache is newest first",
    ),
    Variant(
        "newest chunk first (new chunks put in front)",
        passes=False,
        code=_list_cache(add="insert(0, np.array(k))", add_v="insert(0, np.array(v))"),
        message="the cache is newest first",
    ),
    Variant(
        "head split without a transpose",
        passes=False,
        replace=(
            (
                "return x.reshape(batch, t, num_heads, d_model // num_heads).transpose(0, 2, 1, 3)",
                "return x.reshape(batch, num_heads, t, d_model // num_heads)",
            ),
            (
                "return x.transpose(0, 2, 1, 3).reshape(batch, t, num_heads * head_dim)",
                "return x.reshape(batch, t, num_heads * head_dim)",
            ),
        ),
        message="heads split by a reshape without a transpose",
    ),
    Variant(
        "scaled by 1/sqrt(D) instead of 1/sqrt(head_dim)",
        passes=False,
        replace=(("/ np.sqrt(head_dim)", "/ np.sqrt(d_model)"),),
        message="1/sqrt(D) instead of 1/sqrt(d_k)",
    ),
    Variant(
        "forgets w_o",
        passes=False,
        replace=(
            (
                "return _merge_heads(weights @ values) @ w_o",
                "return _merge_heads(weights @ values)",
            ),
        ),
        message="the output projection w_o is missing",
    ),
    Variant(
        "max_len check refuses exactly max_len (>= instead of >)",
        passes=False,
        replace=((CHECK, CHECK.replace(" > ", " >= ")),),
        message="a cache may hold exactly max_len positions",
    ),
    Variant(
        "max_len check allows max_len + 1 (checks the length before adding t)",
        passes=False,
        code=_list_cache(check="self._len > self.max_len"),
        message="a cache may hold exactly max_len positions",
    ),
    Variant(
        "no max_len check: numpy's broadcasting error on the preallocated buffer",
        passes=False,
        replace=((CHECK_BLOCK, ""),),
        message="numpy's broadcasting error",
    ),
    Variant(
        "keys returns the whole buffer, unfilled room included",
        passes=False,
        replace=(("return self._k[:, :, : self._len]", "return self._k"),),
        message="includes the unused room",
    ),
    Variant(
        "len counts the appends, not the positions",
        passes=False,
        replace=(
            ("        self._len += t\n", "        self._len += t\n        self._appends += 1\n"),
            ("        return self._len\n", "        return self._appends\n"),
            ("        self._len = 0  #", "        self._appends = 0\n        self._len = 0  #"),
        ),
        message="counts the appends",
    ),
    Variant(
        "keys is a method, not a property",
        passes=False,
        replace=(("    @property\n    def keys", "    def keys"),),
        message="make it a property",
    ),
    # --- right -------------------------------------------------------------------------------
    Variant("a list of chunks joined with np.concatenate", passes=True, code=_list_cache()),
    Variant(
        "keys and values as plain attributes, grown by concatenation",
        passes=True,
        code="""
        class KVCache:
            def __init__(self, max_len, batch, num_heads, head_dim):
                self.max_len = max_len
                self.keys = np.zeros((batch, num_heads, 0, head_dim))
                self.values = np.zeros((batch, num_heads, 0, head_dim))

            def append(self, k, v):
                if len(self) + k.shape[2] > self.max_len:
                    raise ValueError("the cache would hold more than max_len positions")
                self.keys = np.concatenate([self.keys, k], axis=2)
                self.values = np.concatenate([self.values, v], axis=2)

            def __len__(self):
                return self.keys.shape[2]
        """,
    ),
    Variant(
        "einsum and a finite -1e9 mask",
        passes=True,
        code="""
        def attend_with_cache(x_new, w_q, w_k, w_v, w_o, num_heads, cache):
            b, t, d = x_new.shape
            dk = d // num_heads
            q, k, v = (
                np.einsum("btd,de->bte", x_new, w).reshape(b, t, num_heads, dk)
                for w in (w_q, w_k, w_v)
            )
            start = len(cache)
            cache.append(np.einsum("bthk->bhtk", k), np.einsum("bthk->bhtk", v))
            scores = np.einsum("bthk,bhsk->bhts", q, cache.keys) / np.sqrt(dk)
            s = scores.shape[-1]
            future = np.arange(s)[None, :] > start + np.arange(t)[:, None]
            scores = np.where(future, -1e9, scores)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            weights = weights / weights.sum(-1, keepdims=True)
            heads = np.einsum("bhts,bhsk->bthk", weights, cache.values)
            return np.einsum("btd,de->bte", heads.reshape(b, t, d), w_o)
        """,
    ),
    Variant(
        "torch inside (tensors in the cache, keys returned as tensors)",
        passes=True,
        code="""
        import torch


        class KVCache:
            def __init__(self, max_len, batch, num_heads, head_dim):
                self.max_len = max_len
                self._k = torch.zeros(batch, num_heads, max_len, head_dim, dtype=torch.float64)
                self._v = torch.zeros_like(self._k)
                self._n = 0

            def append(self, k, v):
                k, v = torch.as_tensor(k), torch.as_tensor(v)
                t = k.shape[2]
                if self._n + t > self.max_len:
                    raise ValueError(f"{self._n} + {t} positions exceed max_len={self.max_len}")
                self._k[:, :, self._n : self._n + t] = k
                self._v[:, :, self._n : self._n + t] = v
                self._n += t

            @property
            def keys(self):
                return self._k[:, :, : self._n]

            @property
            def values(self):
                return self._v[:, :, : self._n]

            def __len__(self):
                return self._n


        def attend_with_cache(x_new, w_q, w_k, w_v, w_o, num_heads, cache):
            x = torch.from_numpy(x_new)
            b, t, d = x.shape
            split = lambda y: y.view(b, t, num_heads, d // num_heads).transpose(1, 2)
            q = split(x @ torch.from_numpy(w_q))
            start = len(cache)
            cache.append(split(x @ torch.from_numpy(w_k)), split(x @ torch.from_numpy(w_v)))
            s = start + t
            mask = torch.ones(t, s, dtype=torch.bool).tril(diagonal=start)
            out = torch.nn.functional.scaled_dot_product_attention(
                q, cache.keys, cache.values, attn_mask=mask
            )
            return out.transpose(1, 2).reshape(b, t, d) @ torch.from_numpy(w_o)
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        replace=(
            (
                "        self._k = np.zeros((batch, num_heads, max_len, head_dim))",
                "        self._k = np.zeros((batch, num_heads, max_len, head_dim), np.float32)",
            ),
            (
                "        self._v = np.zeros((batch, num_heads, max_len, head_dim))",
                "        self._v = np.zeros((batch, num_heads, max_len, head_dim), np.float32)",
            ),
            (
                "    _, t, d_model = x_new.shape\n",
                "    _, t, d_model = x_new.shape\n"
                "    x_new, w_q, w_k, w_v, w_o = (\n"
                "        a.astype(np.float32) for a in (x_new, w_q, w_k, w_v, w_o)\n"
                "    )\n",
            ),
        ),
    ),
    Variant(
        "one query row at a time, each over its own prefix",
        passes=True,
        code="""
        def attend_with_cache(x_new, w_q, w_k, w_v, w_o, num_heads, cache):
            batch, t, d_model = x_new.shape
            head_dim = d_model // num_heads
            q = _split_heads(x_new @ w_q, num_heads)
            start = len(cache)
            cache.append(_split_heads(x_new @ w_k, num_heads), _split_heads(x_new @ w_v, num_heads))
            keys, values = cache.keys, cache.values
            rows = []
            for i in range(t):
                p = start + i
                scores = q[:, :, i : i + 1] @ keys[:, :, : p + 1].swapaxes(-1, -2)
                weights = _softmax(scores / np.sqrt(head_dim))
                rows.append(weights @ values[:, :, : p + 1])
            return _merge_heads(np.concatenate(rows, axis=2)) @ w_o
        """,
    ),
]
