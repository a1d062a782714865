"""Parameter count: how many numbers a GPT-2-style transformer learns.

Implement
- `parameter_breakdown(...)`: the number of parameters of each part of a decoder-only
  transformer, as a dict of six ints.
- `count_parameters(...)`: their total.

The model (GPT-2): token embedding (+ learned position embedding), then `n_layers` blocks of
    x = x + attention(LayerNorm_1(x));  x = x + mlp(LayerNorm_2(x))
then a final LayerNorm and the lm_head, a linear map from d_model back to vocab_size logits.
Nothing here needs an array: it is arithmetic on the sizes, kept in integers.

References
- Radford et al., "Language Models are Unsupervised Multitask Learners" (2019): GPT-2.
- Karpathy, nanoGPT `model.py` (https://github.com/karpathy/nanoGPT): the same model in PyTorch;
  `GPT.get_num_params` counts it.
- Kaplan et al., "Scaling Laws for Neural Language Models" (2020), section 2.1: without
  embeddings and biases, about 12 * n_layers * d_model**2 when d_ff = 4 * d_model.
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (there if you want it: plain int arithmetic is enough)


def parameter_breakdown(
    vocab_size: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    d_ff: int,
    max_seq_len: int = 0,
    bias: bool = True,
    tied_embeddings: bool = True,
) -> dict[str, int]:
    """The parameters of each part of a GPT-2-style decoder-only transformer.

    Returns a dict with exactly these six keys, each the total over all layers:
      "token_embedding"     vocab_size * d_model
      "position_embedding"  max_seq_len * d_model (max_seq_len=0: no learned positions, e.g. RoPE)
      "attention"           per layer W_q, W_k, W_v, W_o, each d_model x d_model,
                            + 4 bias vectors of d_model if bias
      "mlp"                 per layer d_model -> d_ff -> d_model (two weight matrices),
                            + biases of d_ff and d_model if bias
      "layernorm"           2 per layer + 1 final, each a scale and a shift vector of d_model
                            (always present, whatever `bias` says)
      "lm_head"             vocab_size * d_model unless tied_embeddings (then it shares the token
                            embedding's weight and adds 0); never a bias
    The number of heads does not change the count (the heads split d_model), but d_model not
    divisible by n_heads raises ValueError with a message saying so.

    The values must be ints (Python ints; numpy integers are fine too). A float fails, even
    124439808.0: a count is a whole number, so keep the arithmetic in integers (`//`, not `/`).

    Example: GPT-2 small, parameter_breakdown(50257, 768, 12, 12, 3072, max_seq_len=1024), has
    lm_head 0 (tied) and its six values add up to 124,439,808.
    """
    # TODO(param_count): count each part from the sizes; raise ValueError if d_model % n_heads != 0
    raise NotImplementedError


def count_parameters(
    vocab_size: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    d_ff: int,
    max_seq_len: int = 0,
    bias: bool = True,
    tied_embeddings: bool = True,
) -> int:
    """The total number of parameters: the sum of `parameter_breakdown` with the same arguments.

    An int (Python int or numpy integer; a float fails, even 124439808.0). d_model not divisible
    by n_heads raises ValueError with a message saying so.
    GPT-2 small, count_parameters(50257, 768, 12, 12, 3072, max_seq_len=1024), is 124,439,808.
    """
    # TODO(param_count): add up the parts (you may call parameter_breakdown)
    raise NotImplementedError
