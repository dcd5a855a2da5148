"""Model registry, pretrained weights and transfer-learning strategies."""
