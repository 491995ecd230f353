"""Large synchronous steps: each row's summed update, limited by how hard the step drives it.

In one step a table row receives the summed update of every loss term that touches it: for a
frequent word thousands (its occurrences as a center, its slots as a context, its draws as a
noise word), where word2vec's sequential SGD applies them one by one against a moving target.
What makes the sum unstable is the row's gain in the step,

    gain = lr * sum over the row's terms of ( |l'(x)| + l''(x) * |other row|^2 )

with x a term's logit, l its cross-entropy and `other row` the row the term pairs it with:
l'' |other|^2 is the term's curvature along the row (how much moving the row changes its own
gradient), and |l'| the coupling of the two tables (a center row and a context row that push each
other apart or together). A row whose gain is under 1 moves as in plain SGD; well over 2, its
update overshoots, and with the row norms growing as training goes on, a cap on the number of
terms alone does not stay safe. So a row whose gain exceeds `limit` has its summed update scaled
by limit / gain; every other row gets plain SGD.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def curvatures(g_abs: Tensor, lr: float) -> Tensor:
    """lr * l''(x) for each term from the size of its update coefficient, |g| = lr * |l'(x)|
    (0 where masked): for the sigmoid cross-entropy, l'' = |l'| * (1 - |l'|)."""
    return g_abs * (1 - g_abs / lr)


# (rows, gains) parts: gains[i] is a gain at table row rows[i]; a row may repeat
RowGains = tuple[tuple[Tensor, Tensor], ...]


def limited_updates(table_size: int, ids: Sequence[Tensor], updates: Sequence[Tensor],
                    gains: Sequence[tuple[Tensor, Tensor]], limit: float) -> list[Tensor]:
    """One table's updates (updates[k][i] of row ids[k][i]), each row's scaled in place by
    min(1, limit / its gain), its gain being the sum of every gain given at that row."""
    total = torch.zeros(table_size, dtype=updates[0].dtype, device=updates[0].device)
    for rows, gain in gains:
        total.index_add_(0, rows, gain)
    scale = total.reciprocal_().mul_(limit).clamp_(max=1.0)  # no gain: 1 / 0 = inf, scale 1
    return [update.mul_(scale[rows].unsqueeze(1))
            for rows, update in zip(ids, updates, strict=True)]
