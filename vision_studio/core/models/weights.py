"""Pretrained weights: from the libraries' own weights (downloaded on a user's machine,
with a progress callback), from a local file the user picks, or from one of the
project's earlier checkpoints; every load reports which tensors matched.

Public API (agreed interface)::

    load_weights(built, source, progress=None, cancel=None) -> WeightsReport
    check_weights_name(spec, weights) -> None            # ConfigError on a bad name
    read_state_dict(path) -> (state_dict, checkpoint_config | None)
    download(url, dst, progress=None, timeout=TIMEOUT_S, cancel=None) -> Path
    WeightsError(VisionStudioError), DownloadCancelled(WeightsError)

``source`` is one of ``ArchSpec.weights``: a torchvision weight-enum name
(``"IMAGENET1K_V1"``, ``"DEFAULT"``, ``"COCO_V1"``), a timm pretrained tag (``"in1k"``) or
``"backbone:<name>"`` (ImageNet weights of the backbone only) — or a path to a file.

Key matching: ``module.`` / ``model.`` prefixes are stripped; when the file holds a
*classification* state_dict and the model is a detector / segmenter, the keys are mapped
into its backbone with ``BuiltModel.backbone_maps`` (e.g. ``conv_stem.weight`` →
``backbone.body.conv_stem.weight``); the mapping that matches most tensors wins. Tensors
whose shape differs are reshaped when the number of elements agrees, skipped otherwise
(for the head: "head replaced" — it is always rebuilt for the project's categories).
``num_batches_tracked`` counters are not reported.

Library weights already on this computer are used without a network: the shipped
folders and caches of :mod:`vision_studio.core.models.local_weights` are searched first.
Downloads go to torch.hub's cache (``$TORCH_HOME/hub/checkpoints``, the file torchvision
itself would use) and are checked against the SHA-256 prefix in the file name, as
``torch.hub.download_url_to_file`` does.
"""
from __future__ import annotations

import hashlib
import logging
import re
import urllib.error
import urllib.request
import socket
from pathlib import Path
from typing import Any, Callable, Mapping

from vision_studio.core.errors import ConfigError, VisionStudioError
from vision_studio.core.models.base import ArchSpec, BuiltModel, WeightsReport
from vision_studio.core.models.local_weights import find_file, library_files

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)``; ``bytes_total`` is -1 when unknown."""

_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar", ".safetensors")
_HASH = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's HASH_REGEX


class WeightsError(VisionStudioError):
    """Weights cannot be fetched or read; the message says what to download or pick."""


def _looks_like_path(source: str) -> bool:
    return any(s in source for s in ("/", "\\")) or source.lower().endswith(_FILE_SUFFIXES) \
        or Path(source).is_file()


def check_weights_name(spec: ArchSpec, weights: str) -> None:
    """Raise ConfigError when ``weights`` is neither a file path nor one of ``spec.weights``."""
    if not isinstance(weights, str) or not weights:
        raise ConfigError(f"weights must be a name or a file path, got {weights!r}")
    if weights in spec.weights or _looks_like_path(weights):
        return
    valid = ", ".join(spec.weights) if spec.weights else "none (pick a local weights file)"
    raise ConfigError(f"architecture {spec.name} has no weights {weights!r}; valid names: "
                      f"{valid}; or give the path of a .pth file")


# --------------------------------------------------------------------------- files
class DownloadCancelled(WeightsError):
    """The user cancelled a weights download (nothing was kept)."""


TIMEOUT_S = 8.0
"""Socket timeout of a download (connecting, and each read): offline fails within it."""
OFFLINE_HINT = ("check the internet connection, or use a weights file (\"Use a weights "
                "file…\", config weights = its path) or choose None (random "
                "initialisation)")


def download(url: str, dst: Path, progress: Progress | None = None,
             timeout: float = TIMEOUT_S, cancel: Any = None) -> Path:
    """Download ``url`` to ``dst`` (atomically, via ``dst.part``), reporting progress.

    Args:
        url: The file's URL.
        dst: Where it goes.
        progress: ``progress(bytes_done, bytes_total)`` after every MiB.
        timeout: Seconds to connect and for each read: offline (no route, refused
            connection, unreachable proxy) fails within about this time.
        cancel: An object with a ``cancelled`` attribute (e.g. the run's
            :class:`~vision_studio.core.training.cancel.CancelToken`), checked between
            chunks.

    Raises:
        DownloadCancelled: ``cancel.cancelled`` became true (the partial file is removed).
        WeightsError: no network / timeout / HTTP error / hash mismatch; the message
            names the URL, where to put the file by hand, and the alternatives.
    """
    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".part")
    hint = (f"{OFFLINE_HINT}; or download {url} on a machine with internet access and put "
            f"it at {dst}")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        sha = _fetch(url, tmp, progress, timeout, cancel)
    except DownloadCancelled:
        tmp.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError, socket.timeout) as exc:
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"cannot download weights ({reason}): {hint}") from exc
    match = _HASH.search(dst.name)
    if match and not sha.hexdigest().startswith(match.group(1)):
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"downloaded {url} but its SHA-256 does not match the file name "
                           f"(corrupt transfer?): {hint}")
    tmp.replace(dst)
    return dst


def _fetch(url: str, tmp: Path, progress: Progress | None, timeout: float,
           cancel: Any) -> Any:
    """Stream ``url`` into ``tmp``; returns the SHA-256 object of the bytes."""
    req = urllib.request.Request(url, headers={"User-Agent": "vision-studio"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "wb") as out:
        total = int(resp.headers.get("Content-Length") or -1)
        sha, done = hashlib.sha256(), 0
        while chunk := resp.read(1 << 20):
            if cancel is not None and cancel.cancelled:
                raise DownloadCancelled(f"download of {url} cancelled")
            out.write(chunk)
            sha.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return sha


def _cached_download(url: str, progress: Progress | None, cancel: Any = None) -> Path:
    import torch.hub

    dst = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    local = find_file((dst.name,))  # shipped with the app, or downloaded before
    if local is not None:
        return local
    log.info("downloading %s to %s", url, dst)
    return download(url, dst, progress, cancel=cancel)


def _unwrap(obj: Any, path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    import torch

    config = obj.get("config") if isinstance(obj, Mapping) and \
        isinstance(obj.get("config"), Mapping) else None
    for _ in range(3):
        if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor)
                                                    for v in obj.values()):
            return dict(obj), (dict(config) if config else None)
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in ("model", "state_dict", "model_state_dict",
                                       "model_state") if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    raise WeightsError(f"{path}: no state_dict found (expected a dict of tensors, or a "
                       f"checkpoint with a 'model' or 'state_dict' entry)")


def read_state_dict(path: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Read a weights file: ``torch.load(weights_only=True)`` (or safetensors).

    Returns:
        ``(state_dict, config)``; ``config`` is the ``"config"`` dict of a project
        checkpoint, else ``None``.

    Raises:
        WeightsError: missing, unreadable or not a weights file (message names it).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path)), None
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # garbage makes the unpickler raise anything (IndexError...)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot read weights file {path}: not a PyTorch weights file "
                           f"or it is corrupt ({first})") from exc
    return _unwrap(obj, path)


# --------------------------------------------------------------------------- library
def _torchvision_state_dict(arch: str, name: str, progress: Progress | None,
                            cancel: Any = None) -> dict[str, Any]:
    from torchvision.models import get_model_weights

    enum = get_model_weights(arch)[name]
    sd, _ = read_state_dict(_cached_download(enum.url, progress, cancel))
    if arch.startswith("densenet"):  # torchvision's own fix of its legacy DenseNet files
        legacy = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\."
                            r"(?:weight|bias|running_mean|running_var))$")
        sd = {legacy.sub(r"\1\2", k): v for k, v in sd.items()}
    return sd


def _timm_state_dict(model: str, tag: str, progress: Progress | None,
                     cancel: Any = None) -> dict[str, Any]:
    import timm
    from timm.models import get_pretrained_cfg

    full = model if tag == "DEFAULT" else f"{model}.{tag}"
    cfg = get_pretrained_cfg(full)
    overlay: dict[str, Any] = {}
    local = find_file(library_files(f"timm:{model}", tag)[0])  # shipped or downloaded before
    if local is not None:
        overlay.update(file=str(local), source="")  # the file wins over the Hub
    elif cfg is not None and cfg.url and not cfg.hf_hub_id:
        overlay["file"] = str(_cached_download(cfg.url, progress, cancel))
    where = f"https://huggingface.co/{cfg.hf_hub_id}" if cfg is not None and cfg.hf_hub_id \
        else (cfg.url if cfg is not None else full)
    if progress:
        progress(0, -1)
    _check_cancel(cancel, full)
    if local is None and cfg is not None and cfg.hf_hub_id and not _in_hf_cache(cfg.hf_hub_id):
        _check_reachable(where, full)
    try:
        net = timm.create_model(full, pretrained=True, pretrained_cfg_overlay=overlay or None)
    except (ConfigError, WeightsError):
        raise
    except Exception as exc:  # network / hub errors come in many types: report them all
        detail = (str(exc).strip().splitlines() or [""])[0].split(". ")[0][:200]
        raise WeightsError(
            f"cannot fetch the pretrained weights {full} ({type(exc).__name__}: {detail}): "
            f"{OFFLINE_HINT}; or on a machine with internet access download them from "
            f"{where} (model.safetensors or pytorch_model.bin) and pick that file") from exc
    _check_cancel(cancel, full)
    if progress:
        progress(1, 1)
    return net.state_dict()


def _in_hf_cache(repo: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, f), str)
               for f in ("model.safetensors", "pytorch_model.bin"))


def _check_reachable(url: str, what: str, timeout: float = TIMEOUT_S) -> None:
    """Fail fast when ``url``'s host cannot be reached (the Hugging Face client retries
    with back-off for over a minute before it gives up). Proxies from the environment
    are used, as the client would. Any HTTP answer counts as reachable."""
    try:
        req = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "vision-studio"})
        urllib.request.urlopen(req, timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, socket.timeout) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"cannot fetch the pretrained weights {what} ({reason}): {OFFLINE_HINT}; or "
                           f"on a machine with internet access download them from {url} "
                           f"(model.safetensors) and pick that file") from exc


def _check_cancel(cancel: Any, what: str) -> None:
    if cancel is not None and cancel.cancelled:
        raise DownloadCancelled(f"download of {what} cancelled")


def _library_state_dict(built: BuiltModel, name: str, progress: Progress | None,
                        cancel: Any = None) -> dict[str, Any]:
    backbone = name.startswith("backbone:")
    arch = built.backbone_arch if backbone else built.spec.name
    tag = name.split(":", 1)[1] if backbone else name
    if not arch:
        raise WeightsError(f"{built.arch} has no library backbone weights")
    if arch.startswith("timm:"):
        return _timm_state_dict(arch[5:], tag, progress, cancel)
    return _torchvision_state_dict(arch, tag, progress, cancel)


# --------------------------------------------------------------------------- matching
def _strip_prefixes(sd: dict[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    for _ in range(3):
        for prefix in ("module.", "model."):
            if all(k.startswith(prefix) for k in sd) and \
                    not any(k.startswith(prefix) for k in target):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                break
        else:
            break
    return sd


def _candidates(built: BuiltModel, sd: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [("", sd)]
    for src, dst in built.backbone_maps:
        if (src, dst) == ("", ""):
            continue
        mapped = {dst + k[len(src):]: v for k, v in sd.items() if k.startswith(src)}
        out.append((f"{src or '(all)'} → {dst}", mapped))
    return out


def _head_keys(built: BuiltModel) -> set[str]:
    ids = {id(m) for _, mods in built.head for m in mods}
    prefixes = [name + "." for name, m in built.model.named_modules() if id(m) in ids]
    return {k for k in built.model.state_dict() if any(k.startswith(p) for p in prefixes)}


def load_state_dict_into(built: BuiltModel, sd: Mapping[str, Any], source: str
                         ) -> WeightsReport:
    """Load ``sd`` into ``built.model`` non-strictly and report the key matching.

    Raises:
        WeightsError: not a single tensor matches (wrong file for this architecture).
    """
    target = built.model.state_dict()
    sd = _strip_prefixes(dict(sd), target)

    def score(cand: dict[str, Any]) -> int:
        return sum(1 for k, v in cand.items() if k in target and
                   tuple(target[k].shape) == tuple(v.shape))

    mapping, chosen = max(_candidates(built, sd), key=lambda c: score(c[1]))
    report, heads, to_load = WeightsReport(source=source, mapping=mapping), _head_keys(built), {}
    for key, value in chosen.items():
        counter = key.endswith("num_batches_tracked")
        if key not in target:
            if not counter:
                report.skipped.append((key, "not in model"))
            continue
        want, have = tuple(target[key].shape), tuple(value.shape)
        if want != have:
            if value.numel() != target[key].numel():
                why = f"head replaced ({list(have)} → {list(want)})" if key in heads \
                    else f"shape mismatch ({list(have)} vs {list(want)})"
                report.skipped.append((key, why))
                continue
            value = value.reshape(want)
            report.reshaped.append(key)
        to_load[key] = value
        if not counter:
            report.loaded.append(key)
    if not report.loaded:
        example = next(iter(sd), "(empty)")
        raise WeightsError(f"none of the {len(sd)} tensors of {source} fit {built.arch} "
                           f"(first key {example!r}): is it a weights file for this "
                           f"architecture?")
    built.model.load_state_dict(to_load, strict=False)
    report.missing = [k for k in target if k not in to_load
                      and not k.endswith("num_batches_tracked")]
    log.info("%s", report.summary())
    return report


def load_weights(built: BuiltModel, source: str, progress: Progress | None = None,
                 cancel: Any = None) -> WeightsReport:
    """Load pretrained weights into ``built.model`` (the head stays new where its shape
    differs) and report the key matching.

    Args:
        built: The model from :func:`vision_studio.core.models.registry.build_model`.
        source: A name from ``built.spec.weights`` or the path of a ``.pth``/``.pt``/
            ``.safetensors`` file: a raw state_dict, a checkpoint dict with ``"model"`` /
            ``"state_dict"``, or a project checkpoint (``"model"`` + ``"config"``).
        progress: ``progress(bytes_done, bytes_total)`` during a download. torchvision
            and timm URL weights report every MiB; timm weights on the Hugging Face Hub
            are fetched by ``huggingface_hub`` (its own console bar) and report only
            ``(0, -1)`` at the start and ``(1, 1)`` at the end.
        cancel: An object with a ``cancelled`` attribute, checked between downloaded
            chunks (URL weights) and before / after a Hugging Face Hub fetch.

    Raises:
        DownloadCancelled: the download was cancelled.
        ConfigError: a name the architecture does not have.
        WeightsError: download impossible (offline) or file unreadable / not matching.
    """
    check_weights_name(built.spec, source)
    if source in built.spec.weights and not Path(source).is_file():
        sd, config = _library_state_dict(built, source, progress, cancel), None
    else:
        sd, config = read_state_dict(source)
    report = load_state_dict_into(built, sd, str(source))
    report.checkpoint_config = config
    if config and config.get("arch") not in (None, built.arch):
        log.warning("checkpoint %s was trained as %s, loaded into %s", source,
                    config.get("arch"), built.arch)
    return report
