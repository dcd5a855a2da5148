"""The Model panel: task, architecture, weights, transfer strategy, augmentation,
hyperparameters and split; starts runs on the shared training engine."""
