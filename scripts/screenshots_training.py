"""Screenshots of the Model panel (rbc_coco, hymenoptera) and of the Training monitor mid-run and after Stop, on real data from ../shared: `python scripts/screenshots_training.py [tag]` (offscreen) or `QT_QPA_PLATFORM=xcb xvfb-run -a python scripts/screenshots_training.py xvfb`. PNGs go to /tmp/screens."""
import os, sys, time, tempfile
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from pathlib import Path
from vision_studio.gui.app import make_app
from vision_studio.gui.main_window import MainWindow
from vision_studio.core.store import ProjectStore
from vision_studio.core.io.imagefolder import read_imagefolder
from vision_studio.core.io.coco import read_coco
SHARED = Path(os.environ.get("VISION_STUDIO_SHARED", Path(__file__).resolve().parents[2] / "shared"))
tag = sys.argv[1] if len(sys.argv) > 1 else "offscreen"
out = Path("/tmp/screens"); out.mkdir(exist_ok=True)
app = make_app()
def settle(s):
    end = time.monotonic() + s
    while time.monotonic() < end:
        app.processEvents(); time.sleep(0.01)
tmp = Path(tempfile.mkdtemp())
det = tmp / "rbc.vsproj"
with ProjectStore.create(det) as s:
    root = SHARED / "data" / "rbc_coco"
    read_coco(s, root / "train/_annotations.coco.json", split="train")
    read_coco(s, root / "valid/_annotations.coco.json", split="val")
win = MainWindow(); win.resize(1400, 900); win.show()
win.state.engine.torch_threads = 1
win.open_project(det); win.show_panel("model"); settle(1.0)
win.grab().save(str(out / f"model_panel_detection_{tag}.png"))
win.close_project()
proj = tmp / "h.vsproj"
with ProjectStore.create(proj) as s:
    read_imagefolder(s, SHARED / "data" / "hymenoptera")
win.open_project(proj); win.show_panel("model"); settle(1.0)
mp = win.model_panel
mp.arch.arch.setCurrentIndex(mp.arch.arch.findData("timm:tf_efficientnet_lite0"))
mp.arch.set_weights(str(SHARED / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"))
mp.strategy.select("gradual")
for k, v in dict(epochs=4, batch_size=8, image_size=96, device="cpu", max_steps_per_epoch=8, max_val_batches=3).items():
    w = mp.hyper.w[k]; w.setCurrentText(v) if hasattr(w, "setCurrentText") else w.setValue(v)
settle(0.5)
win.grab().save(str(out / f"model_panel_{tag}.png"))
epochs = []
win.state.engine.epochEnded.connect(epochs.append)
mp.start_training(confirm=False)
t0 = time.monotonic()
while len(epochs) < 2 and time.monotonic() - t0 < 400:
    settle(0.2)
settle(4)  # a few batches into epoch 3
win.grab().save(str(out / f"monitor_midrun_{tag}.png"))
win.state.engine.stop(); 
while win.state.engine.busy: settle(0.2)
settle(0.5)
win.monitor.runs.set_checked(win.state.store.runs()[-1].id)
win.grab().save(str(out / f"monitor_stopped_{tag}.png"))
win.shutdown()
print("ok", list(out.iterdir()))
