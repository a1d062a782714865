"""Known-wrong and correct-but-different versions of solutions/positional_encoding.py."""

from __future__ import annotations

from catalogue import Variant

SPLIT_HALF = (
    "your RoPE rotates split halves (i, i + D/2); this kit pairs interleaved dimensions (2i, 2i+1)"
)

SINUSOID_STACK = "pe = np.stack([np.sin(angles), np.cos(angles)], axis=-1)  # (L, D/2, 2)"
SINUSOID_ANGLES = "angles = positions / base**exponents  # (L, D/2)"
SINUSOID_EXPONENTS = (
    "exponents = np.arange(0, d_model, 2, dtype=np.float64) / d_model  # (D/2,) the 2k / d_model"
)
ROPE_INV_FREQ = "inv_freq = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)  # (D/2,)"
ROPE_EVEN = "out_even = even * cos - odd * sin  # (..., L, D/2)"
ROPE_ODD = "out_odd = even * sin + odd * cos  # (..., L, D/2)"

WRONG = [
    # --- sinusoidal_encoding
    Variant(
        "sinusoid: fairseq's (sin | cos halves, frequencies over half_dim - 1)",
        passes=False,
        code="""
        import math


        def sinusoidal_encoding(seq_len, d_model, base=10000.0):
            if d_model % 2:
                raise ValueError(f"odd d_model={d_model}")
            half_dim = d_model // 2
            emb = math.log(base) / (half_dim - 1)
            emb = np.exp(np.arange(half_dim, dtype=np.float64) * -emb)
            emb = np.arange(seq_len, dtype=np.float64)[:, None] * emb[None, :]
            return np.concatenate([np.sin(emb), np.cos(emb)], axis=1)
        """,
        message="two mistakes at once: [sin..., cos...] concatenated halves",
    ),
    Variant(
        "sinusoid: frequencies over half_dim - 1, interleaved (tensor2tensor's timescales)",
        passes=False,
        replace=(
            (
                SINUSOID_EXPONENTS,
                "exponents = np.arange(d_model // 2, dtype=np.float64) / max(d_model // 2 - 1, 1)",
            ),
        ),
        message="frequencies spread over half_dim - 1",
    ),
    Variant(
        "sinusoid: the blog's loop (2i / d_model with i the column, cos at its own frequency)",
        passes=False,
        code="""
        import math


        def sinusoidal_encoding(seq_len, d_model, base=10000.0):
            if d_model % 2:
                raise ValueError(f"odd d_model={d_model}")
            pe = np.zeros((seq_len, d_model))
            for pos in range(seq_len):
                for i in range(0, d_model, 2):
                    pe[pos, i] = math.sin(pos / (base ** ((2 * i) / d_model)))
                    pe[pos, i + 1] = math.cos(pos / (base ** ((2 * (i + 1)) / d_model)))
            return pe
        """,
        message="two mistakes at once: frequency exponent 4k/d_model",
    ),
    Variant(
        "sinusoid: sin and cos swapped",
        passes=False,
        replace=(
            (
                SINUSOID_STACK,
                SINUSOID_STACK.replace("np.sin(angles), np.cos", "np.cos(angles), np.sin"),
            ),
        ),
        message="sin and cos swapped",
    ),
    Variant(
        "sinusoid: exponent k/d_model",
        passes=False,
        replace=(
            (
                SINUSOID_EXPONENTS,
                "exponents = np.arange(d_model // 2, dtype=np.float64) / d_model",
            ),
        ),
        message="k/d_model instead of 2k/d_model",
    ),
    Variant(
        "sinusoid: exponent 4k/d_model",
        passes=False,
        replace=(
            (
                SINUSOID_EXPONENTS,
                "exponents = 2 * np.arange(0, d_model, 2, dtype=np.float64) / d_model",
            ),
        ),
        message="frequency exponent 4k/d_model",
    ),
    Variant(
        "sinusoid: base**(+2k/d) sign error",
        passes=False,
        replace=((SINUSOID_ANGLES, "angles = positions * base**exponents"),),
        message="the exponent's sign is flipped",
    ),
    Variant(
        "sinusoid: base ignored",
        passes=False,
        replace=((SINUSOID_ANGLES, "angles = positions / 10000.0**exponents"),),
        message="the base argument is ignored",
    ),
    Variant(
        "sinusoid: positions start at 1",
        passes=False,
        replace=(
            (
                "positions = np.arange(seq_len, dtype=np.float64)[:, None]",
                "positions = np.arange(1, seq_len + 1, dtype=np.float64)[:, None]",
            ),
        ),
        message="positions start at 1",
    ),
    Variant(
        "sinusoid: concatenated [sin..., cos...] layout",
        passes=False,
        code="""
        def sinusoidal_encoding(seq_len, d_model, base=10000.0):
            if d_model % 2:
                raise ValueError(f"d_model must be even, got {d_model}")
            n = np.arange(seq_len)[:, None]
            angles = n / base ** (np.arange(0, d_model, 2) / d_model)
            return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)
        """,
        message="concatenated halves",
    ),
    Variant(
        "sinusoid: a frequency per column (odd columns use (2k+1)/d_model)",
        passes=False,
        code="""
        def sinusoidal_encoding(seq_len, d_model, base=10000.0):
            if d_model % 2:
                raise ValueError(f"d_model must be even, got {d_model}")
            angles = np.arange(seq_len)[:, None] / base ** (np.arange(d_model) / d_model)
            pe = angles.copy()
            pe[:, 0::2] = np.sin(angles[:, 0::2])
            pe[:, 1::2] = np.cos(angles[:, 1::2])
            return pe
        """,
        message="each column got its own frequency",
    ),
    Variant(
        "sinusoid: odd d_model silently truncated",
        passes=False,
        replace=(
            (
                "    if d_model % 2 != 0:\n        raise ValueError(",
                "    if False:\n        print(",
            ),
            ("return pe.reshape(seq_len, d_model)", "return pe.reshape(seq_len, -1)[:, :d_model]"),
        ),
    ),
    # --- add_learned_positions
    Variant(
        "learned: table[-L:]",
        passes=False,
        replace=(("return x + table[:seq_len]", "return x + table[-seq_len:]"),),
        message="the table's last L rows were used",
    ),
    Variant(
        "learned: table[1:L+1]",
        passes=False,
        replace=(("return x + table[:seq_len]", "return x + table[1 : seq_len + 1]"),),
        message="off by one",
    ),
    Variant(
        "learned: raises at L == max_len",
        passes=False,
        replace=(("if seq_len > max_len:", "if seq_len >= max_len:"),),
    ),
    Variant(
        "learned: no length check (broadcasts a 1-row table)",
        passes=False,
        replace=(("if seq_len > max_len:", "if False:"),),
    ),
    # --- apply_rope
    Variant(
        "rope: split halves (i, i + D/2)",
        passes=False,
        code="""
        def apply_rope(x, positions=None, base=10000.0):
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = np.arange(seq_len)
            angles = np.asarray(positions)[:, None] * base ** (-np.arange(0, dim, 2) / dim)
            cos, sin = np.cos(angles), np.sin(angles)
            first, second = x[..., : dim // 2], x[..., dim // 2 :]
            return np.concatenate([first * cos - second * sin, first * sin + second * cos], -1)
        """,
        message=SPLIT_HALF,
    ),
    Variant(
        "rope: rotation direction reversed (-sin)",
        passes=False,
        replace=(
            (ROPE_EVEN, "out_even = even * cos + odd * sin"),
            (ROPE_ODD, "out_odd = -even * sin + odd * cos"),
        ),
        message="rotation direction reversed",
    ),
    Variant(
        "rope: positions ignored",
        passes=False,
        replace=(
            (
                "positions = np.asarray(positions, dtype=np.float64)  # (L,)",
                "positions = np.arange(seq_len, dtype=np.float64)",
            ),
        ),
        message="positions ignored",
    ),
    Variant(
        "rope: exponent i/D",
        passes=False,
        replace=(
            (ROPE_INV_FREQ, "inv_freq = base ** (-np.arange(dim // 2, dtype=np.float64) / dim)"),
        ),
        message="frequency exponent i/D instead of 2i/D",
    ),
    Variant(
        "rope: base**(+2i/D) sign error",
        passes=False,
        replace=((ROPE_INV_FREQ, "inv_freq = base ** (np.arange(0, dim, 2) / dim)"),),
        message="the exponent's sign is flipped",
    ),
    Variant(
        "rope: base ignored",
        passes=False,
        replace=((ROPE_INV_FREQ, "inv_freq = 10000.0 ** (-np.arange(0, dim, 2) / dim)"),),
        message="the base argument is ignored",
    ),
    Variant(
        "rope: sin and cos swapped",
        passes=False,
        replace=(
            (
                "cos, sin = np.cos(angles), np.sin(angles)  # (L, D/2) each",
                "cos, sin = np.sin(angles), np.cos(angles)",
            ),
        ),
        message="sin and cos swapped in the rotation",
    ),
    Variant(
        "rope: cos/sin cache tiled instead of repeated",
        passes=False,
        code="""
        def apply_rope(x, positions=None, base=10000.0):
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = np.arange(seq_len)
            angles = np.asarray(positions)[:, None] * base ** (-np.arange(0, dim, 2) / dim)
            cos, sin = np.tile(np.cos(angles), 2), np.tile(np.sin(angles), 2)  # (L, D)
            partner = np.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)
            return x * cos + partner * sin
        """,
        message="use np.repeat, not np.tile",
    ),
    Variant(
        "rope: rotates x in place",
        passes=False,
        code="""
        def apply_rope(x, positions=None, base=10000.0):
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = np.arange(seq_len)
            angles = np.asarray(positions)[:, None] * base ** (-np.arange(0, dim, 2) / dim)
            cos, sin = np.cos(angles), np.sin(angles)
            even, odd = x[..., 0::2].copy(), x[..., 1::2].copy()
            x[..., 0::2] = even * cos - odd * sin
            x[..., 1::2] = even * sin + odd * cos
            return x
        """,
        message="in place",
    ),
]

RIGHT = [
    Variant(
        "rope as complex multiplication, sinusoid in the PyTorch-tutorial form",
        passes=True,
        code="""
        import math


        def sinusoidal_encoding(seq_len, d_model, base=10000.0):
            if d_model % 2:
                raise ValueError(f"d_model must be even, got {d_model}")
            position = np.arange(seq_len)[:, None]
            div_term = np.exp(np.arange(0, d_model, 2) * (-math.log(base) / d_model))
            pe = np.zeros((seq_len, d_model))
            pe[:, 0::2] = np.sin(position * div_term)
            pe[:, 1::2] = np.cos(position * div_term)
            return pe


        def apply_rope(x, positions=None, base=10000.0):
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = np.arange(seq_len)
            theta = base ** (-np.arange(0, dim, 2) / dim)
            z = x[..., 0::2] + 1j * x[..., 1::2]  # (..., L, D/2) complex
            z = z * np.exp(1j * np.outer(positions, theta))
            out = np.empty(x.shape)
            out[..., 0::2], out[..., 1::2] = z.real, z.imag
            return out
        """,
    ),
    Variant(
        "torch inside, tensors returned",
        passes=True,
        code="""
        import torch


        def sinusoidal_encoding(seq_len, d_model, base=10000.0):
            if d_model % 2:
                raise ValueError(f"d_model must be even, got {d_model}")
            n = torch.arange(seq_len, dtype=torch.float64)[:, None]
            angles = n / base ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
            return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)


        def add_learned_positions(x, table):
            x, table = torch.as_tensor(x), torch.as_tensor(table)
            if x.shape[-2] > table.shape[0]:
                raise ValueError(f"L={x.shape[-2]} > max_len={table.shape[0]}")
            return x + table[: x.shape[-2]]


        def apply_rope(x, positions=None, base=10000.0):
            x = torch.as_tensor(x)
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = np.arange(seq_len)
            p = torch.as_tensor(positions, dtype=torch.float64)
            angles = p[:, None] * base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
            cos, sin = angles.cos(), angles.sin()
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)
        """,
    ),
    Variant(
        "loops in plain Python",
        passes=True,
        code="""
        import math


        def sinusoidal_encoding(seq_len, d_model, base=10000.0):
            if d_model % 2:
                raise ValueError(f"d_model must be even, got {d_model}")
            rows = []
            for n in range(seq_len):
                row = []
                for k in range(d_model // 2):
                    angle = n / base ** (2 * k / d_model)
                    row += [math.sin(angle), math.cos(angle)]
                rows.append(row)
            return np.array(rows).reshape(seq_len, d_model)


        def add_learned_positions(x, table):
            if x.shape[1] > len(table):
                raise ValueError(f"L={x.shape[1]} > max_len={len(table)}")
            out = np.zeros(x.shape)
            for b in range(x.shape[0]):
                for n in range(x.shape[1]):
                    out[b, n] = x[b, n] + table[n]
            return out


        def apply_rope(x, positions=None, base=10000.0):
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = range(seq_len)
            out = np.zeros(x.shape)
            for lead in np.ndindex(*x.shape[:-2]):
                for row, p in enumerate(positions):
                    for i in range(dim // 2):
                        angle = p * base ** (-2 * i / dim)
                        a, b = x[(*lead, row, 2 * i)], x[(*lead, row, 2 * i + 1)]
                        out[(*lead, row, 2 * i)] = a * math.cos(angle) - b * math.sin(angle)
                        out[(*lead, row, 2 * i + 1)] = a * math.sin(angle) + b * math.cos(angle)
            return out
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        def sinusoidal_encoding(seq_len, d_model, base=10000.0):
            if d_model % 2:
                raise ValueError(f"d_model must be even, got {d_model}")
            n = np.arange(seq_len, dtype=np.float32)[:, None]
            inv = np.float32(base) ** (-np.arange(0, d_model, 2, dtype=np.float32) / d_model)
            angles = (n * inv).astype(np.float32)
            return np.stack([np.sin(angles), np.cos(angles)], -1).reshape(seq_len, d_model)


        def add_learned_positions(x, table):
            if x.shape[-2] > table.shape[0]:
                raise ValueError(f"L={x.shape[-2]} > max_len={table.shape[0]}")
            return x.astype(np.float32) + table[: x.shape[-2]].astype(np.float32)


        def apply_rope(x, positions=None, base=10000.0):
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = np.arange(seq_len)
            x = x.astype(np.float32)
            inv = np.float32(base) ** (-np.arange(0, dim, 2, dtype=np.float32) / dim)
            angles = np.asarray(positions, dtype=np.float32)[:, None] * inv
            cos, sin = np.cos(angles), np.sin(angles)
            even, odd = x[..., 0::2], x[..., 1::2]
            return np.stack([even * cos - odd * sin, even * sin + odd * cos], -1).reshape(x.shape)
        """,
    ),
    Variant(
        "rope with a cos/sin cache repeated per pair (rotate every two)",
        passes=True,
        code="""
        def apply_rope(x, positions=None, base=10000.0):
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = np.arange(seq_len)
            angles = np.asarray(positions)[:, None] * base ** (-np.arange(0, dim, 2) / dim)
            cos = np.repeat(np.cos(angles), 2, axis=-1)  # (L, D): c0, c0, c1, c1, ...
            sin = np.repeat(np.sin(angles), 2, axis=-1)
            partner = np.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)
            return x * cos + partner * sin
        """,
    ),
    Variant(
        "rope as block-diagonal rotation matrices with einsum, learned via np.take",
        passes=True,
        code="""
        def add_learned_positions(x, table):
            seq_len = x.shape[1]
            if seq_len > table.shape[0]:
                raise ValueError(f"L={seq_len} > max_len={table.shape[0]}")
            return np.add(x, np.take(table, np.arange(seq_len), axis=0)[None])


        def apply_rope(x, positions=None, base=10000.0):
            seq_len, dim = x.shape[-2], x.shape[-1]
            if dim % 2:
                raise ValueError(f"D must be even, got {dim}")
            if positions is None:
                positions = np.arange(seq_len)
            angles = np.asarray(positions)[:, None] * base ** (-np.arange(0, dim, 2) / dim)
            rot = np.zeros((seq_len, dim, dim))  # (L, D, D), out = rot @ x
            for i in range(dim // 2):
                c, s = np.cos(angles[:, i]), np.sin(angles[:, i])
                rot[:, 2 * i, 2 * i], rot[:, 2 * i, 2 * i + 1] = c, -s
                rot[:, 2 * i + 1, 2 * i], rot[:, 2 * i + 1, 2 * i + 1] = s, c
            return np.einsum("lij,...lj->...li", rot, x)
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
