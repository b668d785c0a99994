"""The Raspberry Pi 4/5 ESTIMATE: this machine's per-stage costs scaled by published single-thread Pi/x86
ratios, and the report section that shows it (only on x86, where no Pi was measured)."""

from __future__ import annotations

from typing import Any

from scripts.bench_compare.contenders import Outcome

# The same OpenCV program, one thread, on a Raspberry Pi 4 (Cortex-A72 at 1.5 GHz, 64-bit Raspberry Pi
# OS Bookworm) and on an x86 laptop core (Intel Core i7-1255U), milliseconds per image (images 0-2 at
# 320x320 and at 640x640): github.com/TonyCongqianWang/cv_facedetection_eval, time_comparison_pi.md and
# time_comparison_laptop.md. Pairs are (Pi 4 ms, laptop ms).
HAAR_PI4_VS_X86 = ((379.9, 106.2), (346.2, 94.7), (360.4, 98.7), (1593.0, 444.4), (1188.3, 303.6),
                   (1471.6, 391.1))
"""OpenCV `CascadeClassifier` (haarcascade_frontalface_default): Pi 4 is 3.6-3.9x slower."""
CNN_PI4_VS_X86 = ((58.7, 6.3), (54.4, 6.5), (54.4, 5.7), (213.2, 28.1), (212.6, 27.9), (229.8, 29.0))
"""A small CNN (YuNet, fp32, OpenCV DNN): Pi 4 is 7.6-9.5x slower."""
PI5_OVER_PI4 = (1.85, 3.0)
"""Raspberry Pi 5 speed over Pi 4, single thread: 1.85x by sysbench cpu (2737.49 vs 1477.83 events/s,
leoncode.co.uk/articles/raspberry-pi-benchmarks) up to the 2-3x of the launch announcement (ZDNet,
"The Raspberry Pi 5 is here", 2023)."""
PI_SOURCES = (
    ("Pi 4 vs an x86 core, same OpenCV code, 1 thread (Haar 3.6-3.9x, CNN 7.6-9.5x)",
     "https://github.com/TonyCongqianWang/cv_facedetection_eval (time_comparison_pi.md, "
     "time_comparison_laptop.md)"),
    ("Pi 5 vs Pi 4, sysbench cpu single thread: 2737.49 vs 1477.83 events/s (1.85x)",
     "https://leoncode.co.uk/articles/raspberry-pi-benchmarks"),
    ("Pi 5 vs Pi 4, launch claim: two to three times faster",
     "https://www.zdnet.com/google-amp/article/the-raspberry-pi-5-is-here-and-it-comes-with-some-huge-improvements/"),
)


def ratio_range(pairs: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    """Smallest and largest Pi/x86 time ratio of published pairs."""
    ratios = [pi / x86 for pi, x86 in pairs]
    return min(ratios), max(ratios)


def pi_estimate(summary: dict[str, Any], cnn_detector: bool = False) -> dict[str, tuple[float, float]]:
    """Estimated ms per frame on a Pi 4 and Pi 5 (low, high) from this machine's per-stage means.

    The CNN stages ("infer", and "detect" when the detector is a CNN such as BlazeFace) scale by the
    published CNN ratio; everything else (decoding, Haar detection, preprocessing, drawing, Python) by the
    Haar ratio. Pi 5 = Pi 4 / (1.85 .. 3).
    """
    stages = dict(summary.get("stages_ms", {}))
    infer = stages.pop("infer", 0.0) + (stages.pop("detect", 0.0) if cnn_detector else 0.0)
    rest = summary.get("mean_ms", 0.0) - infer + summary.get("decode_ms", 0.0)
    haar, cnn = ratio_range(HAAR_PI4_VS_X86), ratio_range(CNN_PI4_VS_X86)
    pi4 = (rest * haar[0] + infer * cnn[0], rest * haar[1] + infer * cnn[1])
    pi5 = (pi4[0] / PI5_OVER_PI4[1], pi4[1] / PI5_OVER_PI4[0])
    return {"host_ms": (infer, rest), "pi4_ms": pi4, "pi5_ms": pi5}


def _fps(ms: float) -> float:
    return 1000.0 / ms if ms > 0 else 0.0


def pi_section(outcomes: list[Outcome]) -> list[str]:
    """The report's ESTIMATE section: method, one row per one-thread contender that ran, sources, caveats."""
    haar, cnn = ratio_range(HAAR_PI4_VS_X86), ratio_range(CNN_PI4_VS_X86)
    lines = ["## Raspberry Pi 4 and 5: ESTIMATE (not measured)", "",
             "> **ESTIMATE.** No Raspberry Pi was available. These figures are this machine's measured per-stage "
             "costs scaled by published single-thread Pi/x86 ratios; they are a range, not a measurement. Run the "
             "recipe below on a Pi for real figures.", "",
             "Method, per frame: the CNN stages (`infer`: TFLite invoke, Keras predict; and `detect` for the "
             "BlazeFace detectors) are multiplied by the "
             f"published Pi 4/x86 ratio for a small CNN, **{cnn[0]:.1f}-{cnn[1]:.1f}x**; everything else (decoding, "
             f"Haar detection, preprocessing, drawing, Python) by the ratio for OpenCV's Haar cascade, "
             f"**{haar[0]:.1f}-{haar[1]:.1f}x**. Pi 5 = Pi 4 divided by "
             f"**{PI5_OVER_PI4[0]:.2f}-{PI5_OVER_PI4[1]:.0f}x**. "
             "One-thread rows only (the Pi has 4 cores, this machine has fewer). Assumes one core of this machine "
             "is about as fast as the published x86 laptop core (Intel i7-1255U); if it is slower, the Pi "
             "figures below are pessimistic, and the other way round.", "",
             "| contender | here: CNN ms | here: other ms | Pi 4 ms/frame | Pi 4 FPS | Pi 5 ms/frame | Pi 5 FPS |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        if o.status != "ok" or not o.summary or o.contender.threads != 1:
            continue
        e = pi_estimate(o.summary, o.contender.kind == "ours" and o.contender.detector.startswith("blazeface"))
        pi4, pi5 = e["pi4_ms"], e["pi5_ms"]
        lines.append(f"| {o.contender.label} | {e['host_ms'][0]:.1f} | {e['host_ms'][1]:.1f} | "
                     f"{pi4[0]:.0f}-{pi4[1]:.0f} | {_fps(pi4[1]):.1f}-{_fps(pi4[0]):.1f} | "
                     f"{pi5[0]:.0f}-{pi5[1]:.0f} | {_fps(pi5[1]):.1f}-{_fps(pi5[0]):.1f} |")
    lines += ["", "Sources of the ratios:", ""]
    lines += [f"- {what}: {where}" for what, where in PI_SOURCES]
    lines += ["", "Caveats: the CNN ratio is for OpenCV's DNN module (fp32), not TFLite/XNNPACK; int8 on the Pi 4's "
              "Cortex-A72 lacks the dot-product instructions the Pi 5's Cortex-A76 has, so int8 may gain more than "
              "the Pi 5 range above. Keras/TensorFlow on a Pi adds its own overheads.", ""]
    return lines
