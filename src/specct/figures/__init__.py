"""Figures every layer may draw: training curves, confusion matrices, heatmaps, timelines and their colour maps
(base layer)."""
