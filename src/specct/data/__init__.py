"""The data layer: corpora imported into the canonical layout, spectrogram images and their augmentations,
speaker and other per-utterance vectors, the splits and the rows read from them."""
