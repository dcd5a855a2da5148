"""The Evaluation view (issue 7): metrics, PR curves, confusion matrix and predictions over the images."""
