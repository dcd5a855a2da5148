"""Words for people who are not programmers: the built-in guide (Help → Guide) and the
tooltips of the Model tab's fields, in one place so that they read alike.

No library names and no jargon without its meaning. :func:`apply_model_tooltips` puts
:data:`MODEL_TOOLTIPS` on the Model tab (fields found by object name, or by their form
label when they have none).
"""
from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

MODEL_TOOLTIPS: dict[str, str] = {
    # architecture and weights (object names)
    "task": "What the model learns: one label per image (classification), boxes around "
            "objects (detection), the outline of each object (instance segmentation) or a "
            "class for every pixel (semantic segmentation). Chosen from your labels.",
    "arch": "The kind of network. Small ones (fast) train in minutes on an ordinary "
            "computer; large ones are more accurate but need a graphics card.",
    "weights": "What the network knows before training. 'On this computer' weights were "
               "learnt from a million photos and make training fast and accurate with few "
               "images; 'None' starts from nothing and needs much more data.",
    "download": "Fetch the chosen pretrained weights from the internet (once; kept on this "
                "computer afterwards).",
    "pick_weights": "Start from a weights file you have: an earlier run of this app, or a "
                    "file someone gave you.",
    "strategy": "How much of the pretrained network is retrained. With few images, train "
                "only the last part; with many, retrain everything.",
    # hyperparameters (object names)
    "epochs": "How many times the training looks at every training image. More epochs: "
              "longer training, usually better up to a point.",
    "batch_size": "How many images are looked at together in one step. Larger is faster on "
                  "a graphics card but needs more memory; lower it if training runs out of "
                  "memory.",
    "lr": "Learning rate: how big each correction step is. Leave the recommended value; too "
          "high makes training unstable, too low makes it slow.",
    "optimizer": "The method that corrects the network after each step. 'sgd' is the "
                 "dependable default for retraining a pretrained network.",
    "scheduler": "How the learning rate changes during training: 'cosine' lowers it "
                 "smoothly towards the end, which usually gives a better final model.",
    "warmup_epochs": "Warm-up: the first epochs start with small steps and grow to the "
                     "full learning rate, so that a freshly added part of the network does "
                     "not spoil the pretrained one.",
    "grad_clip": "Caps how big a single correction may be (0 = no cap). Prevents a sudden "
                 "jump that would ruin the training of detectors and segmenters.",
    "weight_decay": "A gentle pull of the network's numbers towards zero that keeps it from "
                    "memorising the training images; the default suits most data.",
    "image_size": "Images are resized to this many pixels before training. Larger keeps "
                  "small details but trains more slowly.",
    "early_stopping_patience": "Stop by itself when the validation score has not improved "
                               "for this many epochs (off: always run every epoch).",
    "device": "Where training runs: 'auto' uses the graphics card when there is one, else "
              "the processor.",
    "amp": "Mixed precision: faster training with less memory on a graphics card, with the "
           "same accuracy in practice. No effect on the processor.",
    "seed": "A number that fixes the random choices (shuffling, augmentation), so that the "
            "same settings give the same result again.",
    "max_steps_per_epoch": "Use only this many steps of each epoch (all: the whole training "
                           "set). Handy for a quick trial run.",
    "max_val_batches": "Validation batches: how many groups of validation images are scored "
                       "after each epoch (all: every validation image). Fewer is faster but "
                       "the score is less exact.",
    "name": "The name of the run in the Training tab (automatic when empty).",
    # augmentation and split (object names)
    "aug_enabled": "Show the network slightly changed copies of the training images (flipped, "
                   "rotated, recoloured) so that it learns what matters, not the exact photos.",
    "aug_hflip": "Chance that a training image is mirrored left-right.",
    "aug_vflip": "Chance that a training image is turned upside down (only where that makes "
                 "sense, e.g. microscopy).",
    "aug_rotation": "Training images are turned by up to this many degrees either way.",
    "aug_color_jitter": "How much brightness, contrast and colour are varied.",
    "aug_scale_lo": "Smallest zoom of a training image (1 = unchanged).",
    "aug_scale_hi": "Largest zoom of a training image (1 = unchanged).",
    "preview_next": "Show the augmentation on another training image.",
    "val_split": "Share of the labelled images kept aside to check the model on images it "
                 "has not trained on.",
    "resplit": "Choose the validation images again, keeping every class's share the same in "
               "both parts.",
    # strategy options (form labels: these fields have no object name)
    "Stages trained": "How many of the last parts of the network are retrained; the rest "
                      "keeps what it learnt before.",
    "Head-only epochs": "Epochs at the start during which only the new last layer learns.",
    "Unfreeze a stage every (epochs)": "Every this many epochs, one more part of the network "
                                       "starts learning.",
    "Backbone learning-rate ×": "The pretrained part learns this much slower than the new "
                                "last layer (0.1 = ten times slower), so it is not spoilt.",
    "Decay per stage": "Each earlier part of the network learns this much slower than the "
                       "part after it.",
}
"""Model-tab field → tooltip (object name, or form label text for unnamed fields)."""


def apply_model_tooltips(panel: QWidget) -> int:
    """Give every field of ``panel``'s forms its :data:`MODEL_TOOLTIPS` text (field and
    its label); a field's existing tooltip is kept after ours. Returns how many fields
    got one."""
    done = 0
    for form in panel.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            label_item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field_item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            field = field_item.widget() if field_item is not None else None
            label = label_item.widget() if label_item is not None else None
            if field is None:
                continue
            text = label.text() if isinstance(label, QLabel) else ""
            tip = MODEL_TOOLTIPS.get(field.objectName()) or MODEL_TOOLTIPS.get(text)
            if not tip:
                continue
            old = field.toolTip()
            field.setToolTip(tip if not old or old == tip else f"{tip}\n\n{old}")
            if label is not None:
                label.setToolTip(tip)
            done += 1
    return done


GUIDE_PAGES: tuple[tuple[str, str, str], ...] = (
    ("Annotate", "1. Label your images",
     "<p>Open a project (File → New project from a folder of images), then label:</p><ul>"
     "<li><b>Classification</b>: tick the image's class under <i>Image tags</i>, or press "
     "<b>1</b>–<b>9</b> with <i>Number keys tag the image</i> on; <b>N</b> jumps to the next "
     "image without a label.</li>"
     "<li><b>Boxes and outlines</b>: <b>W</b> draws a box (press, drag, release), <b>P</b> a "
     "polygon (click the corners, Enter closes). A shape you just drew is selected: press a "
     "number key to give it another class.</li>"
     "<li><b>Masks</b> (a class for every pixel): <b>B</b> brush, <b>E</b> eraser, <b>K</b> "
     "fill, <b>[</b> and <b>]</b> change the brush size.</li></ul>"
     "<p>Clicking a class in the list chooses the class of the <i>next</i> shape; it never "
     "changes shapes already drawn. Everything is saved at once; Ctrl+Z undoes.</p>"),
    ("Model", "2. Choose how to train",
     "<p>The Model tab proposes settings that work: a small network whose pretrained "
     "weights are on this computer, a learning rate suited to your data and a strategy for "
     "your number of images. Hover a field to read what it does.</p>"
     "<p>Check the split (training / validation images), look at the warnings under "
     "<i>Checks before training</i>, then press <b>Start training</b>.</p>"),
    ("Training", "3. Watch it learn",
     "<p>The curves show the error on the training images going down and the score on the "
     "validation images going up. If the validation score stops improving while the "
     "training error keeps falling, the model is memorising: more images or more "
     "augmentation help. You can pause, stop and resume a run.</p>"),
    ("Evaluate", "4. Review the mistakes",
     "<p>Pick a finished run. The tables list the images the model gets wrong, worst first; "
     "click one to see the model's answer drawn over the image.</p>"
     "<p>Often the model is right and the label is wrong: that is what this tab is for.</p>"),
    ("Fix", "5. Fix and train again",
     "<p>Correct the labels the review found (in Evaluate, or back in Annotate), label a few "
     "more images of the kinds the model gets wrong, and train again from the last run. "
     "Each round makes the model better with little extra labelling.</p>"),
    ("Annotate", "6. Let the model label",
     "<p>Once a run has finished, the model can do most of the next labels. In Annotate, "
     "<b>Pre-label…</b> runs it on the images you have not labelled yet; its answers appear "
     "as dashed <i>proposals</i> with a score. Proposals are not labels: training and "
     "exports ignore them until you accept them.</p><ul>"
     "<li><b>Enter</b> accepts the selected proposal, <b>Shift+Enter</b> all those shown; "
     "<b>Backspace</b> rejects it, <b>Shift+Backspace</b> rejects all those left (accept the "
     "good ones first, then one key for the rest); a <b>number key</b> accepts it as that "
     "class; dragging it or its corners accepts it as you changed it. <b>Tab</b> moves to "
     "the next proposal.</li>"
     "<li>The <i>Score</i> slider hides proposals the model is unsure of.</li>"
     "<li><b>Score…</b> then <b>Label next</b> (<b>L</b>) shows the images the model knows "
     "least about first: labelling those teaches it the most.</li>"
     "<li><b>Smart polygon</b> (<b>G</b>): drag a box around an object to get its outline; "
     "paint over missed parts (Shift: over wrong parts), Enter keeps it.</li></ul>"
     "<p>Accepted labels remember that the model proposed them (shown as <i>model</i> on "
     "the shape). An image is marked done when nothing is left to review.</p>"),
)
"""The guide: ``(tab, title, HTML)`` per page — label → train → review → fix → model-assisted labelling."""
