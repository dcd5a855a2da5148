"""The Dataset health panel (issue 15): find likely label errors, near-duplicates and
train/val/test leakage with :mod:`vision_studio.core.health`, review and fix them
(undoable), and see the images on a 2-D map of their backbone features."""
