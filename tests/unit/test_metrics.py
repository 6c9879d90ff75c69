"""EpochAverages: the epoch's loss and accuracy weighted by batch size, as d2l's Accumulator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from mlplab.training.metrics import EpochAverages


def test_weighted_by_batch_size_and_equal_to_torchmetrics_accuracy():
    torch.manual_seed(0)
    metric, reference = EpochAverages(with_accuracy=True), MulticlassAccuracy(10, average="micro")
    outputs, targets = [], []
    for n in (256, 256, 17):  # a short last batch must count for 17, not for a third
        output, target = torch.randn(n, 10), torch.randint(0, 10, (n,))
        metric.update(F.cross_entropy(output, target), output, target)
        reference.update(output, target)
        outputs.append(output)
        targets.append(target)
    values = metric.compute()
    all_out, all_y = torch.cat(outputs), torch.cat(targets)
    torch.testing.assert_close(values["loss"], F.cross_entropy(all_out, all_y))
    torch.testing.assert_close(values["acc"], reference.compute())


def test_regression_has_no_accuracy_and_reset_starts_over():
    metric = EpochAverages(with_accuracy=False)
    metric.update(torch.tensor(4.0), torch.zeros(2, 1), torch.zeros(2, 1))
    assert set(metric.compute()) == {"loss"}
    metric.reset()
    metric.update(torch.tensor(1.0), torch.zeros(3, 1), torch.zeros(3, 1))
    assert metric.compute()["loss"].item() == 1.0
