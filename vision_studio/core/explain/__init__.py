"""What the CNN looked at: class-activation heatmaps (``grad-cam``, i.e.
pytorch-grad-cam by J. Gildenblat) for classification and detection checkpoints, and
their overlays on the images (:mod:`.cam`)."""
