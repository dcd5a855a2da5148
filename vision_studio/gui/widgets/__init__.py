"""Reusable widgets: the annotation canvas and its items, image tags."""
