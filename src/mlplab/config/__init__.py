"""The settings: one declaration per setting (``schema``), how it is checked (``settings``), a
torch class's arguments read from its signature (``signature``), the trainer flags taken from
Lightning (``trainer``), Hydra's view of them (``store``: ConfigStore, resolvers; ``location``: the
conf/ folder) and the ``--help`` page (``help``).

May import: ``mlplab.nets`` (the activations' names), ``mlplab.errors``; Lightning, Hydra,
OmegaConf. Nothing here builds a model (but on the meta device, to check its settings) or loads data.
"""
