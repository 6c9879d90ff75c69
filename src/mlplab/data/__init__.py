"""Data sets as LightningDataModules that hold everything in memory and serve whole minibatches
through ``DataLoader``s: Fashion-MNIST (``fashion_mnist``, read by ``idx``, augmented by
``augment``) and d2l's synthetic regression sets (``synthetic``); ``batches`` cuts the epochs.

May import: ``mlplab.config`` (each DataModule takes its settings class), ``mlplab.errors``,
``mlplab.files``; torch, torchvision, Lightning.
"""
