"""Continuous bag of words with negative sampling: the mean of a window's words predicts its center.

As word2vec's CBOW with cbow_mean=1: the input vectors of a center's context words are
averaged, and the mean is scored against the output vectors of the center word (label 1) and
of `negatives` noise words (label 0) with the masked sigmoid cross-entropy. It trains on the
skip-gram batches: a center's window is its context slots, and its noise words are the first
`negatives` slots of its group's noise pool. A center without context words predicts nothing
and is masked. `w2v.models.reference` computes the same loss with autograd on dense rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from w2v.data.batcher import Batch, context_offsets
from w2v.models.base import (
    NegativeSamplingModel,
    RowStiffness,
    RowUpdates,
    Updates,
    curvatures,
    squared_norms,
)


class CBOW(NegativeSamplingModel):
    """The mean input vector of a window, scored against output vectors."""

    name = "cbow"

    @torch.no_grad()
    def updates(self, batch: Batch, lr: float | Tensor, with_loss: bool = True,
                with_stiffness: bool = False) -> Updates:
        """A window's mean is a weighted sum of its context slots' input vectors, each weighted
        by 1 / (its contexts), whose update goes back to the batch's token stream in shifted
        views; the noise logits are one matrix product per group of centers."""
        output = self.output.weight
        size, window, dim = batch.centers.shape[0], batch.window, output.shape[1]
        groups, negatives = batch.noise.shape[0], batch.negatives
        shifts = [window + offset for offset in context_offsets(window)]
        context_mask = batch.context_mask.to(output.dtype)
        n_contexts = context_mask.sum(1, keepdim=True)
        shares = context_mask / n_contexts.clamp(min=1)  # [B, 2w] weight of each slot in its mean
        used = (n_contexts > 0).to(output.dtype)  # [B, 1]

        means = self.words.weighted_sums(batch.contexts(), shares)
        noise = batch.noise[:, :negatives].reshape(-1)
        u_center = output.index_select(0, batch.centers)  # [B, d]
        u_noise = output.index_select(0, noise).view(groups, negatives, dim)
        mean_groups = means.view(groups, -1, dim)
        center_logits = (means * u_center).sum(1, keepdim=True)  # [B, 1]
        noise_logits = torch.bmm(mean_groups, u_noise.transpose(1, 2)).view(size, negatives)

        # d(BCE)/d(logit) is sigmoid(logit) - label; scaled by -lr here, once for all rows
        center_slopes = (1 - torch.sigmoid(center_logits)) * used  # |d(BCE)/d(logit)|
        noise_slopes = torch.sigmoid(noise_logits) * used
        g_center, g_noise = center_slopes * lr, noise_slopes * -lr
        loss = count = None
        if with_loss:
            loss = (F.softplus(-center_logits) * used).sum() + \
                (F.softplus(noise_logits) * used).sum()
            count = used.sum() * (1 + negatives)

        g_noise_groups = g_noise.view(groups, -1, negatives)
        means_update = torch.bmm(g_noise_groups, u_noise).view(size, dim).addcmul_(g_center, u_center)
        u_noise_update = torch.bmm(g_noise_groups.transpose(1, 2), mean_groups).view(-1, dim)
        stream_update = torch.zeros(batch.stream.shape[0], dim, dtype=output.dtype,
                                    device=output.device)
        for j, s in enumerate(shifts):
            stream_update[s:s + size].addcmul_(shares[:, j:j + 1], means_update)
        input_stiffness = output_stiffness = ()
        if with_stiffness:
            input_stiffness, output_stiffness = _stiffness(
                batch, center_slopes.squeeze(1), noise_slopes, means, u_center, u_noise, noise,
                shares)
        return Updates(self.words.row_updates(batch.stream, stream_update, input_stiffness),
                       RowUpdates((batch.centers, noise), (g_center * means, u_noise_update),
                                  output_stiffness),
                       loss, count)


def _stiffness(batch: Batch, center_slopes: Tensor, noise_slopes: Tensor, means: Tensor,
               u_center: Tensor, u_noise: Tensor, noise: Tensor,
               shares: Tensor) -> tuple[RowStiffness, RowStiffness]:
    """The stiffness (`w2v.models.base`) of the batch's terms at the rows they touch: (input
    vectors, output rows). A context word's input vector reaches a logit through its share a of
    the mean: its coupling there is a |l'| and its curvature a^2 l'' |u|^2."""
    groups, negatives = u_noise.shape[0], noise_slopes.shape[1]
    center_curv, noise_curv = curvatures(center_slopes), curvatures(noise_slopes)
    mean_sq = squared_norms(means)
    centers = torch.addcmul(center_slopes, center_curv, mean_sq)
    noise_rows = torch.addcmul(noise_slopes, noise_curv, mean_sq.unsqueeze(1))
    noise_rows = noise_rows.view(groups, -1, negatives).sum(1)
    coupling = center_slopes + noise_slopes.sum(1)
    curvature = noise_curv.view(groups, -1, negatives) * squared_norms(u_noise).unsqueeze(1)
    curvature = torch.addcmul(curvature.sum(2).view(-1), center_curv, squared_norms(u_center))
    slots = torch.addcmul(shares * coupling.unsqueeze(1), shares * shares, curvature.unsqueeze(1))
    return (((batch.contexts().view(-1), slots.view(-1)),),
            ((batch.centers, centers), (noise, noise_rows.view(-1))))
