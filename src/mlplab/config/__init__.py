"""The settings: one declaration per setting (``schema``), how it is checked (``settings``), the
trainer flags taken from Lightning (``trainer``), Hydra's view of them (``store``: ConfigStore,
resolvers, conf/ folder) and the ``--help`` page (``help``).

May import: ``mlplab.errors`` and, lazily, the registries of ``mlplab.nets``; Lightning, Hydra,
OmegaConf. Nothing here builds a model or loads data.
"""
