"""How the network learns: the LightningModule (``module``: loss, metrics, optimizer, logging),
one update with or without Lightning's hook dispatch (``updates``), learning-rate schedules
(``schedules``), weight decay (``regularization``) and epoch averages (``metrics``).

May import: ``mlplab.nets``, ``mlplab.config``, ``mlplab.data.batches``, ``mlplab.errors``,
``mlplab.compat``; torch and Lightning. Nothing here reads files or parses the command line.
"""
