"""The architectures `fer-train` knows and the input contract each is trained with (no Keras import)."""

from __future__ import annotations

from edge.contract import InputSpec

ARCHITECTURES = ("compact", "vgg", "mobilenetv2")
DEFAULT_WIDTH = {"compact": 16, "vgg": 24}


def check_architecture(arch: str) -> None:
    """Refuse an architecture name `fer-train` cannot build, listing the ones it can."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHITECTURES)})")


def input_spec_for(arch: str, size: int | None = None) -> InputSpec:
    """The preprocessing contract each architecture is trained with."""
    check_architecture(arch)
    if arch == "mobilenetv2":
        side = size or 96
        # MobileNetV2's ImageNet weights expect [-1, 1]; gray faces are replicated to 3 channels.
        return InputSpec(height=side, width=side, channels=3, scale=2.0 / 255.0, offset=-1.0)
    side = size or 48
    return InputSpec(height=side, width=side, channels=1, scale=1.0 / 255.0, offset=0.0)
