"""Known-wrong and correct-but-different versions of param_count."""

from __future__ import annotations

from catalogue import Variant

ATTENTION = "attention = 4 * d_model * d_model + (4 * d_model if bias else 0)"
MLP = "mlp = d_model * d_ff + d_ff * d_model + ((d_ff + d_model) if bias else 0)"
LAYERNORM = "layernorm = 2 * d_model  # scale and shift"
LAYERNORMS = '"layernorm": (2 * n_layers + 1) * layernorm,'
LM_HEAD = '"lm_head": 0 if tied_embeddings else vocab_size * d_model,'
POSITIONS = '"position_embedding": max_seq_len * d_model,'
CHECK = """    if d_model % n_heads != 0:
        raise ValueError(
            f"d_model={d_model} is not divisible by n_heads={n_heads}: "
            "each head needs d_model // n_heads dimensions"
        )
"""

VARIANTS: list[Variant] = [
    Variant(
        "no linear biases, and 13 * L * d LayerNorm parameters: the errors cancel but for 2 * d",
        passes=False,
        replace=(
            (ATTENTION, "attention = 4 * d_model * d_model"),
            (MLP, "mlp = d_model * d_ff + d_ff * d_model"),
            (LAYERNORMS, '"layernorm": 13 * n_layers * d_model,'),
        ),
        message="mistakes that partly cancel",
    ),
    # --- layernorm ------------------------------------------------------------------------
    Variant(
        "final_layernorm_forgotten",
        passes=False,
        replace=((LAYERNORMS, '"layernorm": 2 * n_layers * layernorm,'),),
        message="final LayerNorm forgotten",
    ),
    Variant(
        "layernorm_scale_only",
        passes=False,
        replace=((LAYERNORM, "layernorm = d_model  # scale only"),),
        message="LayerNorm counted with its scale only",
    ),
    Variant(
        "layernorm_shift_dropped_without_bias",
        passes=False,
        replace=((LAYERNORM, "layernorm = (2 if bias else 1) * d_model"),),
        message="bias=False removes the linear layers' biases, not LayerNorm's shift",
    ),
    Variant(
        "one_layernorm_per_layer",
        passes=False,
        replace=((LAYERNORMS, '"layernorm": (n_layers + 1) * layernorm,'),),
        message="one LayerNorm per layer instead of two",
    ),
    # --- attention ------------------------------------------------------------------------
    Variant(
        "attention_biases_forgotten",
        passes=False,
        replace=((ATTENTION, "attention = 4 * d_model * d_model"),),
        message="attention biases forgotten",
    ),
    Variant(
        "attention_output_bias_forgotten",
        passes=False,
        replace=((ATTENTION, "attention = 4 * d_model * d_model + (3 * d_model if bias else 0)"),),
        message="the output projection's bias forgotten",
    ),
    Variant(
        "three_attention_matrices",
        passes=False,
        replace=((ATTENTION, "attention = 3 * d_model * d_model + (3 * d_model if bias else 0)"),),
        message="3 attention matrices instead of 4",
    ),
    Variant(
        "each_head_full_matrices",
        passes=False,
        replace=(
            (
                ATTENTION,
                "attention = 4 * n_heads * d_model * d_model + (4 * d_model if bias else 0)",
            ),
        ),
        message="each head given full d_model x d_model matrices",
    ),
    # --- mlp ------------------------------------------------------------------------------
    Variant(
        "mlp_biases_forgotten",
        passes=False,
        replace=((MLP, "mlp = d_model * d_ff + d_ff * d_model"),),
        message="MLP biases forgotten",
    ),
    Variant(
        "mlp_only_first_bias",
        passes=False,
        replace=((MLP, "mlp = d_model * d_ff + d_ff * d_model + (d_ff if bias else 0)"),),
        message="only the first MLP bias (d_ff) counted",
    ),
    Variant(
        "mlp_only_second_bias",
        passes=False,
        replace=((MLP, "mlp = d_model * d_ff + d_ff * d_model + (d_model if bias else 0)"),),
        message="only the second MLP bias (d_model) counted",
    ),
    Variant(
        "d_ff_assumed_4_d_model",
        passes=False,
        replace=((MLP, "d_ff = 4 * d_model\n    " + MLP),),
        message="d_ff assumed to be 4 * d_model",
    ),
    Variant(
        "one_mlp_matrix",
        passes=False,
        replace=((MLP, "mlp = d_model * d_ff + ((d_ff + d_model) if bias else 0)"),),
        message="only one MLP weight matrix counted",
    ),
    Variant(
        "biases_counted_although_bias_false",
        passes=False,
        replace=(
            (ATTENTION, "attention = 4 * d_model * d_model + 4 * d_model"),
            (MLP, "mlp = d_model * d_ff + d_ff * d_model + d_ff + d_model"),
        ),
        message="biases counted although bias=False",
    ),
    # --- lm_head --------------------------------------------------------------------------
    Variant(
        "lm_head_counted_when_tied",
        passes=False,
        replace=((LM_HEAD, '"lm_head": vocab_size * d_model,'),),
        message="lm_head counted although tied_embeddings=True",
    ),
    Variant(
        "lm_head_never_counted",
        passes=False,
        replace=((LM_HEAD, '"lm_head": 0,'),),
        message="lm_head not counted although tied_embeddings=False",
    ),
    Variant(
        "lm_head_with_bias",
        passes=False,
        replace=(
            (LM_HEAD, '"lm_head": 0 if tied_embeddings else vocab_size * d_model + vocab_size,'),
        ),
        message="lm_head given a bias",
    ),
    # --- position embedding ---------------------------------------------------------------
    Variant(
        "positions_forgotten",
        passes=False,
        replace=((POSITIONS, '"position_embedding": 0,'),),
        message="position embeddings forgotten",
    ),
    Variant(
        "positions_fixed_1024",
        passes=False,
        replace=((POSITIONS, '"position_embedding": 1024 * d_model,'),),
        message="position embeddings counted although max_seq_len=0",
    ),
    Variant(
        "default_max_seq_len_1024",
        passes=False,
        code="""
        _breakdown = parameter_breakdown


        def parameter_breakdown(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len=1024,
                                bias=True, tied_embeddings=True):
            return _breakdown(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len, bias,
                              tied_embeddings)
        """,
        message="position embeddings counted although max_seq_len=0",
    ),
    # --- n_layers -------------------------------------------------------------------------
    Variant(
        "not_multiplied_by_n_layers",
        passes=False,
        replace=(
            ('"attention": n_layers * attention,', '"attention": attention,'),
            ('"mlp": n_layers * mlp,', '"mlp": mlp,'),
            (LAYERNORMS, '"layernorm": 3 * layernorm,'),
        ),
        message="per-layer counts not multiplied by n_layers",
    ),
    Variant(
        "mlp_not_multiplied_by_n_layers",
        passes=False,
        replace=(('"mlp": n_layers * mlp,', '"mlp": mlp,'),),
        message="not multiplied by n_layers",
    ),
    # --- divisibility ---------------------------------------------------------------------
    Variant(
        "no_divisibility_check",
        passes=False,
        replace=((CHECK, ""),),
        message="should raise ValueError, but returned normally",
    ),
    Variant(
        "check_only_in_count_parameters",
        passes=False,
        replace=(
            (CHECK, ""),
            ("    parts = parameter_breakdown(\n", CHECK + "    parts = parameter_breakdown(\n"),
        ),
        message="should raise ValueError, but returned normally",
    ),
    Variant(
        "assert_instead_of_value_error",
        passes=False,
        replace=((CHECK, '    assert d_model % n_heads == 0, "d_model % n_heads != 0"\n'),),
        message="not `assert`",
    ),
    Variant(
        "value_error_without_message",
        passes=False,
        replace=((CHECK, "    if d_model % n_heads != 0:\n        raise ValueError()\n"),),
        message="without a message",
    ),
    Variant(
        "divisibility_check_inverted",
        passes=False,
        replace=(("if d_model % n_heads != 0:", "if n_heads % d_model != 0:"),),
    ),
    # --- types and shape of the result ----------------------------------------------------
    Variant(
        "float_count",
        passes=False,
        replace=(("return sum(parts.values())", "return sum(parts.values()) * 1.0"),),
        message="is a float, not an int",
    ),
    Variant(
        "float_from_true_division",
        passes=False,
        replace=(
            (
                ATTENTION,
                "d_k = d_model / n_heads\n"
                "    attention = 4 * n_heads * d_k * d_model + (4 * d_model if bias else 0)",
            ),
        ),
        message="`/` always makes a float",
    ),
    Variant(
        "total_key_in_breakdown",
        passes=False,
        code="""
        _breakdown = parameter_breakdown


        def parameter_breakdown(*args, **kwargs):
            parts = _breakdown(*args, **kwargs)
            return {**parts, "total": sum(parts.values())}


        def count_parameters(*args, **kwargs):
            return parameter_breakdown(*args, **kwargs)["total"]
        """,
        message="the total is count_parameters's job",
    ),
    Variant(
        "renamed_key",
        passes=False,
        replace=(('"token_embedding": vocab_size', '"embedding": vocab_size'),),
        message="missing key(s): ['token_embedding']",
    ),
    Variant(
        "count_leaves_out_positions",
        passes=False,
        replace=(
            (
                "return sum(parts.values())",
                'return sum(parts.values()) - parts["position_embedding"]',
            ),
        ),
        message="position_embedding left out of the total",
    ),
    Variant(
        "returns_nothing",
        passes=False,
        replace=(("return sum(parts.values())", "sum(parts.values())"),),
        message="forget to `return`",
    ),
    # --- right, written differently -------------------------------------------------------
    Variant(
        "loop_over_layers",
        passes=True,
        code="""
        def parameter_breakdown(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len=0,
                                bias=True, tied_embeddings=True):
            if d_model % n_heads:
                raise ValueError(f"{n_heads} heads do not divide d_model={d_model}")
            parts = dict.fromkeys(
                ["token_embedding", "position_embedding", "attention", "mlp", "layernorm",
                 "lm_head"], 0)
            parts["token_embedding"] = vocab_size * d_model
            parts["position_embedding"] = max_seq_len * d_model
            for _ in range(n_layers):
                for _ in range(4):  # q, k, v, o
                    parts["attention"] += d_model * d_model + (d_model if bias else 0)
                parts["mlp"] += d_model * d_ff + (d_ff if bias else 0)
                parts["mlp"] += d_ff * d_model + (d_model if bias else 0)
                parts["layernorm"] += 2 * (d_model + d_model)
            parts["layernorm"] += d_model + d_model  # final
            if not tied_embeddings:
                parts["lm_head"] = d_model * vocab_size
            return parts


        def count_parameters(*args, **kwargs):
            total = 0
            for value in parameter_breakdown(*args, **kwargs).values():
                total += value
            return total
        """,
    ),
    Variant(
        "table_of_shapes",
        passes=True,
        code="""
        import math


        def _shapes(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len, bias, tied):
            if d_model % n_heads != 0:
                raise ValueError("d_model must be a multiple of n_heads")
            table = [("token_embedding", (vocab_size, d_model))]
            if max_seq_len:
                table.append(("position_embedding", (max_seq_len, d_model)))
            for _ in range(n_layers):
                table.append(("layernorm", (d_model,)))
                table.append(("layernorm", (d_model,)))
                for _ in "qkvo":
                    table.append(("attention", (d_model, d_model)))
                    if bias:
                        table.append(("attention", (d_model,)))
                table.append(("layernorm", (d_model,)))
                table.append(("layernorm", (d_model,)))
                table.append(("mlp", (d_model, d_ff)))
                table.append(("mlp", (d_ff, d_model)))
                if bias:
                    table += [("mlp", (d_ff,)), ("mlp", (d_model,))]
            table += [("layernorm", (d_model,)), ("layernorm", (d_model,))]
            if not tied:
                table.append(("lm_head", (d_model, vocab_size)))
            return table


        def parameter_breakdown(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len=0,
                                bias=True, tied_embeddings=True):
            table = _shapes(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len, bias,
                            tied_embeddings)
            parts = {key: 0 for key in ["token_embedding", "position_embedding", "attention",
                                        "mlp", "layernorm", "lm_head"]}
            for key, shape in table:
                parts[key] += math.prod(shape)
            return parts


        def count_parameters(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len=0,
                             bias=True, tied_embeddings=True):
            table = _shapes(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len, bias,
                            tied_embeddings)
            return sum(math.prod(shape) for _, shape in table)
        """,
    ),
    Variant(
        "numpy_int64",
        passes=True,
        code="""
        def parameter_breakdown(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len=0,
                                bias=True, tied_embeddings=True):
            if np.int64(d_model) % np.int64(n_heads):
                raise ValueError("d_model % n_heads must be 0")
            d, f, L = np.int64(d_model), np.int64(d_ff), np.int64(n_layers)
            b = np.int64(bool(bias))
            return {
                "token_embedding": np.prod([vocab_size, d_model], dtype=np.int64),
                "position_embedding": np.int64(max_seq_len) * d,
                "attention": L * (4 * d * d + 4 * d * b),
                "mlp": L * (2 * d * f + (d + f) * b),
                "layernorm": (2 * L + 1) * 2 * d,
                "lm_head": np.int64(0 if tied_embeddings else vocab_size) * d,
            }


        def count_parameters(*args, **kwargs):
            return np.sum(list(parameter_breakdown(*args, **kwargs).values()))
        """,
    ),
    Variant(
        "per_head_slices_closed_form_total",
        passes=True,
        code="""
        def count_parameters(vocab_size, d_model, n_layers, n_heads, d_ff, max_seq_len=0,
                             bias=True, tied_embeddings=True):
            if d_model % n_heads != 0:
                raise ValueError(f"d_model {d_model} % n_heads {n_heads} != 0")
            d_k = d_model // n_heads
            per_head = 3 * (d_model * d_k + (d_k if bias else 0))  # q, k, v slices
            attention = n_heads * per_head + d_model * d_model + (d_model if bias else 0)
            mlp = 2 * d_model * d_ff + int(bias) * (d_ff + d_model)
            block = attention + mlp + 4 * d_model
            embeddings = (vocab_size + max_seq_len) * d_model
            head = 0 if tied_embeddings else vocab_size * d_model
            return embeddings + n_layers * block + 2 * d_model + head
        """,
    ),
]
