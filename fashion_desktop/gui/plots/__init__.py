"""Training plots: pyqtgraph widgets that own their curves, fed with the engine's metrics on the GUI thread.

``style`` gives every plot its colours, titles and value axes, ``interactive`` the hover read-outs and the
right-click menu (log scale, PNG and SVG export), ``batch_loss`` is the loss of every batch with its smoothing,
``epochs`` the per-epoch plots and the learning-rate preview, and ``confusion`` the confusion matrix.
"""
