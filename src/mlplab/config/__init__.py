"""The settings: one declaration per setting, in its group's module (``network``: model and
activation; ``module_settings``: the regularizer, and the module's groups checked together;
``optimization``: optimizer and scheduler; ``datasets``; ``monitor``; ``schema``: paths, the
top-level keys and the schemas Hydra composes against), how it is checked (``settings``), a
torch class's arguments read from its signature (``signature``), the trainer flags taken from
Lightning (``trainer``), the classes of callbacks and loggers checked (``targets``), Hydra's view
of them (``store``: ConfigStore, resolvers; ``location``: the conf/ folder) and the ``--help``
page (``help``).

May import: ``mlplab.nets`` (the activations' names), ``mlplab.errors``; torch, Lightning, Hydra,
OmegaConf. Nothing here builds a model (but on the meta device, to check its settings) or loads data.
"""
