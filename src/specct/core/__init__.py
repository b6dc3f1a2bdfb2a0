"""The base layer: errors, atomic files, the on-disk layout, names, labels, the shared command-line vocabulary,
seeds, threads, precision, checkpoints, records and locks; it imports nothing else of specct."""
