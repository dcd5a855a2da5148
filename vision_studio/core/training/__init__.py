"""The headless training engine: config, events, trainer, checkpoints."""
