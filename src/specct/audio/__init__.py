"""Audio in (reading, checking and trimming a wav) and the demo corpora's synthetic voices (base layer)."""
