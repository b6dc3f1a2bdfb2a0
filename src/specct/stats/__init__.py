"""The statistics of the protocol: the metrics and their bootstrap, paired comparisons of systems, calibration
and the LaTeX tables."""
