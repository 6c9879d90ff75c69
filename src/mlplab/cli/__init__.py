"""The entry points, thin: ``train`` (``mlplab-train``) and ``evaluate`` (``mlplab-eval``) compose
the config with Hydra and hand it to ``mlplab.runtime``; ``errors`` is the one path by which any
mistake becomes one line and an exit status.

May import everything below it: ``mlplab.runtime``, ``mlplab.config`` and the rest.
"""
