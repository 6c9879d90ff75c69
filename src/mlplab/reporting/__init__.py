"""What a run and a sweep leave to read: ``curves.png`` (``curves``), TensorBoard's HParams,
histograms and pictures (``dashboard``, ``hparams``), and a sweep's summary, best job and heatmap
(``sweep``). Every file goes through ``mlplab.files``.

May import: ``mlplab.config``, ``mlplab.nets`` (activations to draw), ``mlplab.data`` (class
names), ``mlplab.files``, ``mlplab.errors``; Lightning, TensorBoard, matplotlib. Its Hydra callback
ends the process through ``mlplab.cli.errors``, the one error path.
"""
