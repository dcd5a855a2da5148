"""The Evaluation panel's actions on what it shows: accept predictions as annotations
(one undo step), export the report folder (asking before filling a non-empty folder),
save the view as PNG. A mixin of :class:`~.panel.EvaluatePanel` (its ``state``, ``ui``,
``view``, ``inputs`` and thresholds)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMessageBox

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.wording import plural


class PanelActions:
    """Accept / export / PNG actions (mixed into the panel)."""

    state: Any
    ui: Any
    view: Any
    inputs: Any
    score: float
    nms: float
    thresholds: Any
    _detection: Any
    _last: Any

    # ------------------------------------------------------------------ accept
    def accept_predictions(self, raw_indices: list[int]) -> list[int]:
        """Add raw detections to the store as annotations in one undo step; returns the
        new annotation ids."""
        from vision_studio.core.evaluation.accept import annotations_from_detections
        from vision_studio.gui.undo import AddAnnotationsCommand

        if not self._detection() or self.inputs is None:
            return []
        anns = annotations_from_detections(self.view.raw, raw_indices, self.view.images, str(self.inputs.checkpoint))
        if not anns:
            return []
        source = self.accept_source()
        anns = [dataclasses.replace(a, source=source) for a in anns]
        text = "Accept prediction" if len(anns) == 1 else f"Accept {plural(len(anns), 'prediction')}"
        cmd = AddAnnotationsCommand(self.state.store, anns, text=text)
        self.state.undo_stack.push(cmd)
        for image_id in {a.image_id for a in anns}:
            self.state.annotationsChanged.emit(image_id)
        self.view.mark_accepted(list(raw_indices), list(cmd.added), self.thresholds)
        what = plural(len(anns), "prediction")
        self.labels_changed(f"Accepted {what} as annotations (Ctrl+Z undoes).")
        return cmd.ids

    def accept_source(self) -> str:
        """``Annotation.source`` of accepted predictions: ``"model:<file name>"`` for a
        predictions file, ``"model:<run folder>"`` for a checkpoint (the core's
        ``attributes`` keep the full path as ``"checkpoint"``, and the score)."""
        ckpt = Path(str(self.inputs.checkpoint))
        if getattr(self, "_last", None) and self._last[0] == "results":
            return f"model:{ckpt.name}"
        return f"model:{(ckpt if ckpt.is_dir() else ckpt.parent).name}"

    def accept_tag(self, row: Any) -> tuple[int, ...] | None:
        """Classification: make the predicted class of a list row the image's tag (one
        undo step; tags of categories the model does not know are kept); the row and the
        viewer's caption update at once. Returns the image's new tags."""
        from vision_studio.gui.undo import SetImageTagsCommand

        if self.view is None or not hasattr(self.view, "fixed_tag"):
            return None
        store = self.state.store
        cat_id = self.view.category_of(row.pred)
        evaluated = {int(c["id"]) for c in self.inputs.categories}
        tags = [t for t in store.image_tags(row.image_id) if t not in evaluated] + [cat_id]
        self.state.undo_stack.push(SetImageTagsCommand(store, row.image_id, tags))
        self.state.annotationsChanged.emit(row.image_id)
        self.view.fixed_tag(row)
        self.labels_changed(f"Tagged the image as {self.view.ev.names[row.pred]} (Ctrl+Z undoes).")
        return store.image_tags(row.image_id)

    def labels_changed(self, what: str) -> None:
        """Labels were fixed from the evaluation: say so and that the metrics are out of
        date, with the one-click refresh (:attr:`~.layout.EvalWidgets.refresh_btn`)."""
        self.ui.summary.set_pending(True, "out of date")
        self.ui.refresh_btn.setVisible(True)
        self.ui.status.setText(f"{what} The metrics shown are out of date (they use the labels of this "
                               "evaluation): press Refresh metrics to include the changes.")

    def accept_prediction(self, raw_index: int) -> list[int]:
        """Accept one raw detection (see :meth:`accept_predictions`)."""
        return self.accept_predictions([raw_index])

    def accept_all_on_image(self, image_id: int | None = None) -> list[int]:
        """Accept every shown prediction of an image (default: the viewer's) in one step."""
        if not self._detection():
            return []
        image_id = self.ui.viewer.image_id if image_id is None else image_id
        return self.accept_predictions(self.view.shown_on_image(image_id, self.thresholds)) \
            if image_id is not None else []

    def _accept_clicked(self) -> None:
        if self.view is not None and hasattr(self.view, "fixed_tag"):
            row = self.ui.list.currentIndex().row()
            if 0 <= row < len(self.ui.list_model.payload):
                self.accept_tag(self.ui.list_model.payload[row])
            else:
                self.ui.status.setText("Select an image in the list to accept its predicted class as its tag.")
            return
        raw = self.ui.viewer.highlighted
        if raw is None:
            self.ui.status.setText("Select a prediction in the list (or right-click it) to accept it.")
            return
        self.accept_prediction(raw)

    def _accept_all_clicked(self) -> None:
        self.accept_all_on_image()

    # ------------------------------------------------------------------ export
    def export_report(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write the report folder (the core session's files) at the current thresholds
        and a PNG of the view.

        Raises:
            VisionStudioError: nothing evaluated yet; OutputExistsError: ``folder`` is not
            empty and ``overwrite`` is false; ProtectedPathError: ``folder`` is a project
            file; OSError: the folder cannot be written.
        """
        from vision_studio.core.outputs import check_output, protected_paths
        from vision_studio.gui.panels.evaluate.export import export_report

        if self.view is None:
            raise VisionStudioError("nothing evaluated yet")
        results = bool(getattr(self, "_last", None)) and self._last[0] == "results"
        if results and Path(folder, "results.json").resolve() == Path(str(self.inputs.checkpoint)).resolve():
            raise VisionStudioError(f"{folder}: the report's results.json would replace the predictions file "
                                    "under review; choose another folder")
        folder = check_output(folder, overwrite=overwrite, protected=protected_paths(self.state.store))
        out = export_report(self.view, self.state.store, self.score, self.nms, folder, results=results)
        self.save_view_png(out / "view.png")
        self.ui.status.setText(f"Report written to {out}")
        return out

    def save_view_png(self, path: str | Path) -> bool:
        """Save the whole panel as it looks now as a PNG."""
        return self.grab().save(str(path))

    def _export_clicked(self) -> None:
        from vision_studio.core.errors import OutputExistsError

        folder = QFileDialog.getExistingDirectory(self, "Export the evaluation report to")
        if not folder:
            return
        try:
            try:
                self.export_report(folder)
            except OutputExistsError as exc:
                ask = QMessageBox.question(self, "Replace files?", f"{exc.path} is not empty. Write the report "
                                           "there anyway, replacing files of the same names?")
                if ask == QMessageBox.StandardButton.Yes:
                    self.export_report(folder, overwrite=True)
        except (VisionStudioError, OSError) as exc:
            QMessageBox.warning(self, "Export failed", str(exc))

    def _png_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the view as PNG", "evaluation.png", "PNG (*.png)")
        if path and not self.save_view_png(path):
            QMessageBox.warning(self, "Not saved", f"Could not write {path}")
