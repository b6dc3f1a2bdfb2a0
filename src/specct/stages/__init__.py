"""Stage runners: what one preprocessing script does, composed from the library modules.

A script parses its flags and calls one function here; the library modules below (``speaker``,
``baselines.features``, ``embedding_plot``, ``vectors``) never import a stage.
"""
