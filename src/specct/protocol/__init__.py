"""The evaluation protocol every system shares: the test rows and files, a run's folder, and prediction over the
segments of long recordings."""
