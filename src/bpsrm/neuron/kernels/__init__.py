"""Fused implementations of the SRM neuron, one module per backend.

``cpu``: a C library (built at install time, loaded with ctypes) with the
forward and BP-SRM backward in one pass over memory each. Other devices use
the portable :class:`bpsrm.neuron.autograd.SRMFunction`.
"""
