"""Use of trained models: loading and evaluating checkpoints (``inference``),
predicting files and recordings (``prediction``), adapting normalisation
statistics to a new machine (``adapt``), out-of-distribution scores
(``ood``) and export to NIR (``export``).

Nothing here is imported by ``import bpsrm``: each module is loaded when used.
"""
