"""Import and export of annotation formats (COCO, Pascal VOC, labelme, masks, ImageFolder)."""
