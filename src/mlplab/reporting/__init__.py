"""What a run and a sweep leave to read: ``curves.png`` (``curves``), TensorBoard's HParams,
histograms and pictures (``dashboard``, ``hparams``), and a sweep's summary (``sweep``: the files and
its Hydra callback; its rows and best job, ``sweep_rows``; its tables, ``sweep_tables``; heatmap.png,
``heatmap``), averaged over seeds (``seeds``). Every file goes through ``mlplab.files``.

May import: ``mlplab.training`` and everything below it (``data`` for class names, ``nets`` for the
activations to draw, ``config``, ``outcomes``, ``errors``, ``files``, ``records``); Lightning,
TensorBoard, matplotlib. Its Hydra callback ends the process through ``mlplab.outcomes``.
"""
