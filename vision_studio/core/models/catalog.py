"""The catalogue behind the registry: which architectures are listed, their descriptions,
speed classes, input sizes and available pretrained weights (without building anything;
:mod:`vision_studio.core.models.registry` adds the parameter counts)."""
from __future__ import annotations

import functools

from vision_studio.core.models.base import HALF, IMAGENET_MEAN, IMAGENET_STD, ArchSpec
from vision_studio.core.types import Task

CLS, DET, INS, SEM = (Task.CLASSIFICATION, Task.DETECTION, Task.INSTANCE_SEGMENTATION,
                      Task.SEMANTIC_SEGMENTATION)

# name -> (description, speed, input size)
_TV_CLS = {
    "resnet18": ("ResNet-18: small residual network, a solid default", "fast", 224),
    "resnet34": ("ResNet-34: residual network, basic blocks", "fast", 224),
    "resnet50": ("ResNet-50: the standard bottleneck residual network", "medium", 224),
    "resnet101": ("ResNet-101: deeper ResNet", "slow", 224),
    "resnet152": ("ResNet-152: deepest ResNet", "slow", 224),
    "resnext50_32x4d": ("ResNeXt-50 32x4d: grouped-convolution ResNet", "medium", 224),
    "vgg16_bn": ("VGG-16 with BatchNorm: plain deep conv net, very large", "slow", 224),
    "densenet121": ("DenseNet-121: densely connected blocks, few parameters", "medium", 224),
    "googlenet": ("GoogLeNet (Inception v1)", "fast", 224),
    "inception_v3": ("Inception-v3 (299x299 input)", "medium", 299),
    "mobilenet_v2": ("MobileNet-V2: inverted residuals, for mobile/CPU", "fast", 224),
    "mobilenet_v3_large": ("MobileNet-V3 Large: fast mobile network", "fast", 224),
    "mobilenet_v3_small": ("MobileNet-V3 Small: the fastest, least accurate", "fast", 224),
    "shufflenet_v2_x1_0": ("ShuffleNet-V2 1.0x: channel-shuffle mobile network", "fast", 224),
    "efficientnet_b0": ("EfficientNet-B0: compound-scaled MBConv network", "fast", 224),
    "efficientnet_b1": ("EfficientNet-B1", "medium", 240),
    "efficientnet_b2": ("EfficientNet-B2", "medium", 288),
    "efficientnet_b3": ("EfficientNet-B3", "slow", 300),
    "convnext_tiny": ("ConvNeXt-Tiny: modernised ResNet, strong accuracy", "medium", 224),
    "alexnet": ("AlexNet (2012): the first deep CNN on ImageNet, large fully connected layers", "medium", 224),
    "vgg19_bn": ("VGG-19 with BatchNorm: the deepest plain VGG, very large", "slow", 224),
    "densenet169": ("DenseNet-169: deeper densely connected network", "medium", 224),
}
_SCRATCH = {"lenet5": ("LeNet-5 (1998): tiny CNN for 28-32 px inputs (MNIST, CIFAR-10); from scratch",
                       "fast", 32)}
_TIMM_CLS = ("tf_efficientnet_lite0", "efficientnet_b0", "mobilenetv3_large_100", "resnet50",
             "convnext_nano", "legacy_xception", "inception_v4")
_TV_DET = {
    "fasterrcnn_resnet50_fpn": (DET, "Faster R-CNN, ResNet-50-FPN (v1)", "slow", 800),
    "fasterrcnn_resnet50_fpn_v2": (DET, "Faster R-CNN v2, ResNet-50-FPN, better box head",
                                   "slow", 800),
    "fasterrcnn_mobilenet_v3_large_fpn": (DET, "Faster R-CNN, MobileNet-V3-Large-FPN",
                                          "medium", 800),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (
        DET, "Faster R-CNN, MobileNet-V3-Large-FPN at 320 px: fastest two-stage", "fast", 320),
    "retinanet_resnet50_fpn": (DET, "RetinaNet (one-stage, focal loss), ResNet-50-FPN",
                               "slow", 800),
    "retinanet_resnet50_fpn_v2": (DET, "RetinaNet v2, ResNet-50-FPN", "slow", 800),
    "fcos_resnet50_fpn": (DET, "FCOS (anchor-free one-stage), ResNet-50-FPN", "slow", 800),
    "ssdlite320_mobilenet_v3_large": (DET, "SSDlite 320 px, MobileNet-V3-Large: fast",
                                      "fast", 320),
    "ssd300_vgg16": (DET, "SSD300 (single-shot multibox), VGG-16 at 300 px", "slow", 300),
    "maskrcnn_resnet50_fpn": (INS, "Mask R-CNN, ResNet-50-FPN (v1)", "slow", 800),
    "maskrcnn_resnet50_fpn_v2": (INS, "Mask R-CNN v2, ResNet-50-FPN", "slow", 800),
}
_TV_SEM = {
    "deeplabv3_resnet50": ("DeepLabV3 (atrous spatial pyramid pooling), ResNet-50", "slow"),
    "deeplabv3_resnet101": ("DeepLabV3, ResNet-101", "slow"),
    "deeplabv3_mobilenet_v3_large": ("DeepLabV3, MobileNet-V3-Large", "medium"),
    "fcn_resnet50": ("FCN (fully convolutional), ResNet-50", "slow"),
    "fcn_resnet101": ("FCN, ResNet-101", "slow"),
    "lraspp_mobilenet_v3_large": ("LR-ASPP, MobileNet-V3-Large: fast, light", "fast"),
}
# template prefix -> (task, family, description pattern, listed backbones)
TEMPLATES = {
    "timm": (CLS, "timm_cls", "timm {bb}", _TIMM_CLS),
    "fasterrcnn_fpn": (DET, "fasterrcnn_fpn", "Faster R-CNN, {bb}-FPN backbone",
                       ("resnet18", "resnet34", "resnet101", "resnext50_32x4d", "mobilenet_v2")),
    "fasterrcnn_timm": (DET, "fasterrcnn_timm", "Faster R-CNN, timm {bb} backbone + FPN",
                        ("tf_efficientnet_lite0", "resnet50")),
    "maskrcnn_fpn": (INS, "maskrcnn_fpn", "Mask R-CNN, {bb}-FPN backbone",
                     ("resnet18", "resnet34", "resnext50_32x4d", "mobilenet_v3_large")),
    "maskrcnn_timm": (INS, "maskrcnn_timm", "Mask R-CNN, timm {bb} backbone + FPN",
                      ("tf_efficientnet_lite0",)),
    "unet": (SEM, "unet", "U-Net, {bb} encoder (segmentation-models-pytorch)",
             ("resnet18", "resnet34", "resnet50", "mobilenet_v2")),
    "unet_timm": (SEM, "unet_timm", "U-Net, timm {bb} encoder", ("tf_efficientnet_lite0",)),
    "fpn_timm": (SEM, "fpn_timm", "FPN decoder, timm {bb} encoder", ("tf_efficientnet_lite0",)),
}


def _listed() -> dict[str, str]:
    out = {n: CLS for n in _TV_CLS}
    out.update({n: CLS for n in _SCRATCH})
    out.update({f"timm:{n}": CLS for n in _TIMM_CLS})
    out.update({n: v[0] for n, v in _TV_DET.items() if v[0] == DET})
    for prefix, (task, _, _, bbs) in TEMPLATES.items():
        if task in (DET, INS) and prefix != "timm":
            out.update({f"{prefix}:{b}": task for b in bbs})
    out.update({n: v[0] for n, v in _TV_DET.items() if v[0] == INS})
    out.update({n: SEM for n in _TV_SEM})
    for prefix in ("unet", "unet_timm", "fpn_timm"):
        out.update({f"{prefix}:{b}": SEM for b in TEMPLATES[prefix][3]})
    order = {CLS: 0, DET: 1, INS: 2, SEM: 3}
    return dict(sorted(out.items(), key=lambda kv: order[kv[1]]))


LISTED: dict[str, str] = _listed()
"""Listed architecture name → task, in display order."""


def _tv_weights(name: str) -> tuple[str, ...]:
    from torchvision.models import get_model_weights

    try:
        return tuple(get_model_weights(name).__members__)
    except ValueError:
        return ()


@functools.lru_cache(maxsize=None)
def timm_tags(name: str) -> tuple[str, ...]:
    """Pretrained tags timm knows for model ``name`` (``("in1k",)`` for lite0)."""
    import timm

    return tuple(t.split(".", 1)[1] for t in timm.list_pretrained(f"{name}.*"))


@functools.lru_cache(maxsize=None)
def _timm_info(name: str) -> tuple[tuple, tuple, int] | None:
    import timm
    from timm.models import get_pretrained_cfg

    if not timm.is_model(name):
        return None
    cfg = get_pretrained_cfg(name)  # the default tag, as timm.create_model uses
    if cfg is None:
        return IMAGENET_MEAN, IMAGENET_STD, 224
    return tuple(cfg.mean), tuple(cfg.std), int(cfg.input_size[-1])


def backbone_choices(prefix: str) -> list[str]:
    """Valid backbone names for template ``prefix`` (for error messages)."""
    if prefix in ("fasterrcnn_fpn", "maskrcnn_fpn"):
        from vision_studio.core.models.detection import MOBILENET_BACKBONES, RESNET_BACKBONES
        return list(RESNET_BACKBONES + MOBILENET_BACKBONES)
    if prefix == "unet":
        import segmentation_models_pytorch as smp
        return list(smp.encoders.get_encoder_names())
    import timm
    return timm.list_models()


def _bb_weights(arch: str | None) -> tuple[str, ...]:
    if not arch:
        return ()
    if arch.startswith("timm:"):
        tags = timm_tags(arch[5:])
        return tuple(f"backbone:{t}" for t in (("DEFAULT",) + tags if tags else ()))
    return tuple(f"backbone:{w}" for w in _tv_weights(arch))


def _template_spec(name: str) -> ArchSpec | None:
    prefix, _, bb = name.partition(":")
    task, family, pattern, _ = TEMPLATES[prefix]
    if family in ("fasterrcnn_fpn", "maskrcnn_fpn", "unet"):
        if bb not in backbone_choices(prefix):
            return None
        mean, std, size = IMAGENET_MEAN, IMAGENET_STD, 800 if task != SEM else 512
        weights = _bb_weights(bb) if bb in _tv_names() else ()
        source = "smp" if family == "unet" else "torchvision"
    else:
        info = _timm_info(bb)
        if info is None:
            return None
        mean, std, size = info
        if task == CLS:
            tags = timm_tags(bb)
            weights = ("DEFAULT",) + tags if tags else ()
        else:
            weights = _bb_weights(f"timm:{bb}")
            size = 512 if task == SEM else 640
        source = "smp" if task == SEM else "timm"
    speed = "fast" if any(s in bb for s in ("lite0", "18", "mobilenet", "nano")) else "medium"
    default = weights[0] if weights else None
    return ArchSpec(name=name, task=task, family=family, description=pattern.format(bb=bb),
                    param_count=0.0, weights=weights, default_weights=default, mean=mean,
                    std=std, input_size=size, source=source, speed=speed,
                    model_normalizes=task in (DET, INS))


@functools.lru_cache(maxsize=1)
def _tv_names() -> frozenset[str]:
    from torchvision.models import list_models

    return frozenset(list_models())


def draft_spec(name: str) -> ArchSpec | None:
    """The :class:`ArchSpec` of ``name`` with ``param_count`` 0, or ``None`` if unknown."""
    if not isinstance(name, str):
        return None
    if name in _TV_CLS:
        desc, speed, size = _TV_CLS[name]
        half = name in ("googlenet", "inception_v3")
        weights = _tv_weights(name)
        return ArchSpec(name, CLS, "torchvision_cls", desc, 0.0, weights, "DEFAULT",
                        HALF if half else IMAGENET_MEAN, HALF if half else IMAGENET_STD,
                        size, "torchvision", speed)
    if name in _SCRATCH:
        desc, speed, size = _SCRATCH[name]
        return ArchSpec(name, CLS, "scratch_cls", desc, 0.0, (), None, HALF, HALF, size, "vision_studio", speed)
    if name in _TV_DET:
        task, desc, speed, size = _TV_DET[name]
        weights = _tv_weights(name)
        if not name.startswith("ssd"):
            bb = "resnet50" if "resnet50" in name else "mobilenet_v3_large"
            weights += _bb_weights(bb)
        half = name.startswith("ssd")
        return ArchSpec(name, task, "torchvision_det", desc, 0.0, weights, "DEFAULT",
                        HALF if half else IMAGENET_MEAN, HALF if half else IMAGENET_STD,
                        size, "torchvision", speed, model_normalizes=True)
    if name in _TV_SEM:
        desc, speed = _TV_SEM[name]
        bb = next(b for b in ("resnet101", "resnet50", "mobilenet_v3_large") if b in name)
        weights = _tv_weights(name) + _bb_weights(bb)
        return ArchSpec(name, SEM, "torchvision_seg", desc, 0.0, weights, "DEFAULT",
                        IMAGENET_MEAN, IMAGENET_STD, 520, "torchvision", speed)
    prefix, sep, bb = name.partition(":")
    if sep and bb and prefix in TEMPLATES:
        return _template_spec(name)
    return None
