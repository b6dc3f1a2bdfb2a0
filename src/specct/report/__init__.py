"""The report of an experiment (report.html and report.md): its content, facts, figures, verdict and renderings
(experiments layer)."""
