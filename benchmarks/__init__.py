"""How fast mlplab trains d2l 4.2, next to the d2l pipeline and a raw in-memory PyTorch loop.

One recipe everywhere: ScratchMLP 784-256-10, ReLU, SGD lr 0.1, batch 256, the same seeded init;
an "epoch" is one pass over the 60k training images plus one accuracy pass over the 10k test
images, as d2l's ``train_ch3`` does (mlplab: ``experiment=d2l_mlp_scratch``, validated on test).
Each epoch is timed wall-clock, the device synchronized at both ends.

    (a) d2l     torchvision FashionMNIST + ToTensor + DataLoader(4 workers) + d2l's loop    d2l.py
    (b) raw     uint8 tensors in memory, randperm + slicing, x.float() / 255                raw.py
    (c) mlplab  Hydra compose → mlplab.runtime.build.build → trainer.fit, every callback and
                logger on: the default run, on Lightning's automatic loop                   lightning_fit.py
    (f) lightning  the plainest LightningModule on the same in-memory tensors, nothing of
                mlplab's: the floor of Lightning's own loop on this machine             lightning_floor.py
    (d) whole   ``mlplab-train`` for 10 epochs vs ``python -m benchmarks.raw``, each a
                fresh process                                                               whole.py
    (e) RSS     peak RSS of that ``mlplab-train`` vs a process that only imports the
                libraries (each whole process started by ``measure.py``)                    whole.py

    common.py     what the pipelines share: constants, model and init, clock, accuracy, data
    report.py     medians, repeat-paired ratios and their 95 % intervals, the goals, the table
    __main__.py   ``python -m benchmarks [--device cpu|cuda] [--repeats 7] [--epochs 3]
                  [--out benchmark.json] [--data-dir data] [--compile] [--skip-whole] [--seed 42]``

This file imports nothing: ``python -m benchmarks.raw`` and ``python -m benchmarks.measure`` load
it first, and their processes must stay free of Lightning, Hydra and torchvision.
"""
