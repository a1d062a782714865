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
GD_WEIGHTS = [1.8, 1.16, 1.032]
# dL/dw = 2 * x * (w * x - y) = 2 * 2 * (2w - 2) = 8 (w - 1); lr = 0.1:
#   w1 = 5    - 0.1 * 8 * 4    = 5 - 3.2      = 1.8
#   w2 = 1.8  - 0.1 * 8 * 0.8  = 1.8 - 0.64   = 1.16
#   w3 = 1.16 - 0.1 * 8 * 0.16 = 1.16 - 0.128 = 1.032

# The loss BEFORE each of those 3 steps, i.e. L(w0), L(w1), L(w2).
# Form: a list of 3 floats.
GD_LOSSES = [64.0, 2.56, 0.1024]
#   L(5)    = (10 - 2)^2   = 8^2    = 64
#   L(1.8)  = (3.6 - 2)^2  = 1.6^2  = 2.56
#   L(1.16) = (2.32 - 2)^2 = 0.32^2 = 0.1024

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
MLP_HIDDEN = [0.0, 1.5]
#   W1 x = [0.5 * 1 - 0.5 * 2, 0.5 * 1 + 0.5 * 2] = [-0.5, 1.5];  relu -> [0, 1.5]

# The output y.
# Form: a float.
MLP_OUTPUT = 1.5
#   y = 1 * 0 + 1 * 1.5 = 1.5

# The loss L.
# Form: a float.
MLP_LOSS = 0.25
#   L = (1.5 - 1)^2 = 0.5^2 = 0.25

# dL/dW2, in the layout of W2 (entry [0][j] is dL/dW2[0][j]).
# Form: a 1 x 2 nested list, [[a, b]].
MLP_GRAD_W2 = [[0.0, 1.5]]
#   dL/dy = 2 (y - 1) = 2 * 0.5 = 1
#   dL/dW2 = dL/dy * h^T = 1 * [[0, 1.5]] = [[0, 1.5]]

# dL/dW1, in the layout of W1 (entry [i][j] is dL/dW1[i][j]).
# Form: a 2 x 2 nested list, [[a, b], [c, d]].
MLP_GRAD_W1 = [[0.0, 0.0], [1.0, 2.0]]
#   dL/dh = W2^T dL/dy = [1, 1] * 1 = [1, 1]
#   dL/dz = dL/dh * relu'(z) = [1, 1] * [0, 1] = [0, 1]      (z = W1 x + b1 = [-0.5, 1.5])
#   dL/dW1 = dL/dz x^T = outer([0, 1], [1, 2]) = [[0 * 1, 0 * 2], [1 * 1, 1 * 2]] = [[0, 0], [1, 2]]

# --- 3. One step of SGD with momentum ------------------------------------------------------------
# PyTorch's form: v_new = beta * v + grad, then w_new = w - lr * v_new (the new velocity).
# w = 0.5, grad = 0.2, v = 0.1, lr = 0.1, beta = 0.9.

# The new velocity v_new.
# Form: a float.
MOMENTUM_VELOCITY = 0.29
#   v_new = 0.9 * 0.1 + 0.2 = 0.09 + 0.2 = 0.29

# The new weight w_new.
# Form: a float.
MOMENTUM_WEIGHT = 0.471
#   w_new = 0.5 - 0.1 * 0.29 = 0.5 - 0.029 = 0.471

# --- 4. Scaled dot-product attention -------------------------------------------------------------
# Two tokens, d_k = 2. Row i of each matrix belongs to token i:
#   Q = K = [[1, 0],      V = [[1, 2],
#            [0, 1]]           [3, 4]]
#   weights = softmax(Q K^T / sqrt(d_k)), the softmax taken over each row (over the keys)
#   output  = weights V

# The attention weights (row i: how token i spreads its attention over the tokens).
# Form: a 2 x 2 nested list.
ATTENTION_WEIGHTS = [[0.6697615, 0.3302385], [0.3302385, 0.6697615]]
#   Q K^T / sqrt(2) = [[1/sqrt(2), 0], [0, 1/sqrt(2)]] = [[0.7071068, 0], [0, 0.7071068]]
#   row 0: exp(0.7071068) = 2.0281150, exp(0) = 1, sum 3.0281150
#          [2.0281150 / 3.0281150, 1 / 3.0281150] = [0.6697615, 0.3302385]; row 1 mirrored

# The output (row i: the output of token i).
# Form: a 2 x 2 nested list.
ATTENTION_OUTPUT = [[1.6604769, 2.6604769], [2.3395231, 3.3395231]]
#   row 0: 0.6697615 * [1, 2] + 0.3302385 * [3, 4]
#        = [0.6697615 + 0.9907155, 1.3395231 + 1.3209538] = [1.6604769, 2.6604769]
#   row 1: 0.3302385 * [1, 2] + 0.6697615 * [3, 4]
#        = [0.3302385 + 2.0092846, 0.6604769 + 2.6790462] = [2.3395231, 3.3395231]

# --- 5. Softmax ----------------------------------------------------------------------------------
# softmax(z)_i = exp(z_i) / sum_j exp(z_j).

# softmax([1, 2, 3]).
# Form: a list of 3 floats.
SOFTMAX_1_2_3 = [0.0900306, 0.2447285, 0.6652410]
#   exp = [2.7182818, 7.3890561, 20.0855369], sum 30.1928748
#   [2.7182818 / 30.1928748, 7.3890561 / 30.1928748, 20.0855369 / 30.1928748]
#   = [0.0900306, 0.2447285, 0.6652410]

# softmax([10, 20, 30]) (ten times the inputs above).
# Form: a list of 3 floats.
SOFTMAX_10_20_30 = [2.0610600e-09, 4.5397869e-05, 0.9999546]
#   subtract the max (30): exp([-20, -10, 0]) = [2.0611536e-09, 4.5399930e-05, 1]
#   sum = 1.0000454; divide: [2.0610600e-09, 4.5397869e-05, 0.9999546]

# --- 6. Entropy ----------------------------------------------------------------------------------
# H(p) = - sum_i p_i ln p_i (natural log: the answer is in nats).

# The entropy of p = [0.7, 0.2, 0.1], in nats.
# Form: a float.
ENTROPY_07_02_01 = 0.8018186
#   0.7 ln 0.7 = 0.7 * -0.3566749 = -0.2496725
#   0.2 ln 0.2 = 0.2 * -1.6094379 = -0.3218876
#   0.1 ln 0.1 = 0.1 * -2.3025851 = -0.2302585
#   H = 0.2496725 + 0.3218876 + 0.2302585 = 0.8018186

# --- 7. Bayes' rule ------------------------------------------------------------------------------
# 1% of people have a disease. A test is positive for 90% of the people who have it (sensitivity
# P(positive | disease) = 0.9) and for 5% of the people who do not (false positives,
# P(positive | healthy) = 0.05).

# The probability that a person who tests positive has the disease, P(disease | positive).
# Form: a float between 0 and 1.
BAYES_POSTERIOR = 0.1538462
#   P(positive) = 0.01 * 0.9 + 0.99 * 0.05 = 0.009 + 0.0495 = 0.0585
#   P(disease | positive) = 0.009 / 0.0585 = 0.1538462   (= 2/13)

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
GPT2_SMALL_PARAMS = 124_439_808
#   token embedding     50257 * 768                           = 38,597,376
#   position embedding  1024 * 768                            =    786,432
#   per layer: attention  4 * 768 * 768 + 4 * 768             =  2,362,368
#              mlp        768 * 3072 + 3072 + 3072 * 768 + 768 =  4,722,432
#              layer norms 2 * 2 * 768                         =      3,072
#              total                                           =  7,087,872
#   12 layers           12 * 7,087,872                        = 85,054,464
#   final layer norm    2 * 768                               =      1,536
#   sum 38,597,376 + 786,432 + 85,054,464 + 1,536             = 124,439,808
