"""How the network learns: the LightningModule on Lightning's automatic loop (``module``: metrics,
optimizer, logging), the loss of a run (``objective``: one function for a model and for each member
of a stack), learning-rate schedules (``schedules``), weight decay (``regularization``) and epoch
averages (``metrics``).

May import: ``mlplab.config``, ``mlplab.data.batches``, ``mlplab.errors``; torch and Lightning.
Nothing here reads files or parses the command line.
"""
