"""Warm-ups: pen and paper.

Before the code, the numbers: small problems from the notes that you solve by hand (a
calculator for exp and ln is fine) and write down here as plain numbers. Each constant below
starts as `None`; replace it with your answer in the form its comment asks for (a float, an int,
a list of floats, or a nested list for a matrix). Answers are graded with atol = 1e-3 and
rtol = 1e-3, so three or four decimals are enough; the integer is graded exactly. Write numbers
(or Python expressions such as `math.exp(2) / (1 + math.exp(2))`, after an `import math`),
not strings.

References:
- Goodfellow, Bengio and Courville (2016), "Deep Learning", sections 4.3 (gradient descent),
  6.5 (back-propagation), 8.3.2 (momentum), 3.13 (entropy).
- Vaswani et al. (2017), "Attention Is All You Need", section 3.2.1 (scaled dot-product attention).
- Radford et al. (2019), "Language Models are Unsupervised Multitask Learners" (GPT-2).
"""

from __future__ import annotations

# --- 1. Gradient descent on one weight -----------------------------------------------------------
# Model y_hat = w * x with a single weight w, one training point x = 2, y = 2, and the loss
# L(w) = (y_hat - y)^2 (squared error, no 1/2 in front). Start at w0 = 5 and take 3 steps of
# plain gradient descent, w <- w - lr * dL/dw, with lr = 0.1.

# The weight after each of the 3 steps (w0 itself not included).
# Form: a list of 3 floats, [w1, w2, w3].
GD_WEIGHTS = None  # TODO(warmups): your answer

# The loss BEFORE each of those 3 steps, i.e. L(w0), L(w1), L(w2).
# Form: a list of 3 floats.
GD_LOSSES = None  # TODO(warmups): your answer

# --- 2. A two-layer MLP, forward and backward ----------------------------------------------------
# Column layout: x is a column vector and W1 x is row i of W1 dotted with x.
#   x  = [1, 2]
#   W1 = [[0.5, -0.5],     b1 = [0, 0]
#         [0.5,  0.5]]
#   h  = relu(W1 x + b1)                       (relu(z) = max(z, 0), element by element)
#   y  = W2 h + b2,  W2 = [[1, 1]] (1 x 2), b2 = 0
#   L  = (y - 1)^2                             (MSE against the target 1; one element)
# The derivative of relu is 1 where z > 0 and 0 elsewhere (0 at exactly 0).

# The hidden vector h.
# Form: a list of 2 floats, [h1, h2].
MLP_HIDDEN = None  # TODO(warmups): your answer

# The output y.
# Form: a float.
MLP_OUTPUT = None  # TODO(warmups): your answer

# The loss L.
# Form: a float.
MLP_LOSS = None  # TODO(warmups): your answer

# dL/dW2, in the layout of W2 (entry [0][j] is dL/dW2[0][j]).
# Form: a 1 x 2 nested list, [[a, b]].
MLP_GRAD_W2 = None  # TODO(warmups): your answer

# dL/dW1, in the layout of W1 (entry [i][j] is dL/dW1[i][j]).
# Form: a 2 x 2 nested list, [[a, b], [c, d]].
MLP_GRAD_W1 = None  # TODO(warmups): your answer

# --- 3. One step of SGD with momentum ------------------------------------------------------------
# PyTorch's form: v_new = beta * v + grad, then w_new = w - lr * v_new (the new velocity).
# w = 0.5, grad = 0.2, v = 0.1, lr = 0.1, beta = 0.9.

# The new velocity v_new.
# Form: a float.
MOMENTUM_VELOCITY = None  # TODO(warmups): your answer

# The new weight w_new.
# Form: a float.
MOMENTUM_WEIGHT = None  # TODO(warmups): your answer

# --- 4. Scaled dot-product attention -------------------------------------------------------------
# Two tokens, d_k = 2. Row i of each matrix belongs to token i:
#   Q = K = [[1, 0],      V = [[1, 2],
#            [0, 1]]           [3, 4]]
#   weights = softmax(Q K^T / sqrt(d_k)), the softmax taken over each row (over the keys)
#   output  = weights V

# The attention weights (row i: how token i spreads its attention over the tokens).
# Form: a 2 x 2 nested list.
ATTENTION_WEIGHTS = None  # TODO(warmups): your answer

# The output (row i: the output of token i).
# Form: a 2 x 2 nested list.
ATTENTION_OUTPUT = None  # TODO(warmups): your answer

# --- 5. Softmax ----------------------------------------------------------------------------------
# softmax(z)_i = exp(z_i) / sum_j exp(z_j).

# softmax([1, 2, 3]).
# Form: a list of 3 floats.
SOFTMAX_1_2_3 = None  # TODO(warmups): your answer

# softmax([10, 20, 30]) (ten times the inputs above).
# Form: a list of 3 floats.
SOFTMAX_10_20_30 = None  # TODO(warmups): your answer

# --- 6. Entropy ----------------------------------------------------------------------------------
# H(p) = - sum_i p_i ln p_i (natural log: the answer is in nats).

# The entropy of p = [0.7, 0.2, 0.1], in nats.
# Form: a float.
ENTROPY_07_02_01 = None  # TODO(warmups): your answer

# --- 7. Bayes' rule ------------------------------------------------------------------------------
# 1% of people have a disease. A test is positive for 90% of the people who have it (sensitivity
# P(positive | disease) = 0.9) and for 5% of the people who do not (false positives,
# P(positive | healthy) = 0.05).

# The probability that a person who tests positive has the disease, P(disease | positive).
# Form: a float between 0 and 1.
BAYES_POSTERIOR = None  # TODO(warmups): your answer

# --- 8. Counting parameters ----------------------------------------------------------------------
# GPT-2 small, counted as in the param_count exercise: vocab_size 50257, d_model 768, 12 layers,
# 12 heads, d_ff 3072, learned positions for 1024 tokens, biases everywhere.
#   token embedding     vocab_size * d_model
#   position embedding  1024 * d_model
#   per layer: attention  W_q, W_k, W_v, W_o (each d_model x d_model) and their 4 bias vectors
#              mlp        d_model -> d_ff -> d_model, with biases (d_ff and d_model)
#              2 layer norms, each a scale and a shift vector of d_model
#   a final layer norm (scale and shift)
#   lm_head tied to the token embedding: no parameters of its own (and no bias)

# The total number of parameters.
# Form: an int.
GPT2_SMALL_PARAMS = None  # TODO(warmups): your answer
