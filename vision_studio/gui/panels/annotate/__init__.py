"""The Annotate panel: image browser, canvas, categories, tags."""
