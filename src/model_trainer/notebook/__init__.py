"""Notebook views: live training panel, score heatmap, generation view."""
