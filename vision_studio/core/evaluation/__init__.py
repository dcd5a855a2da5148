"""Prediction and metrics (pycocotools COCOeval, classification, semantic segmentation)."""
