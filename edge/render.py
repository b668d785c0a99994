"""Draw face boxes, emotion labels and FPS on a frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.results import FrameResult

# One BGR colour per FER2013 emotion; other labels get grey.
COLOURS = {"angry": (48, 48, 220), "disgust": (60, 140, 60), "fear": (160, 60, 160), "happy": (40, 200, 250),
           "sad": (200, 120, 40), "surprise": (240, 200, 60), "neutral": (200, 200, 200)}


def hex_colours() -> dict[str, str]:
    """The label colours as "#rrggbb", for charts and web pages."""
    return {label: f"#{r:02x}{g:02x}{b:02x}" for label, (b, g, r) in COLOURS.items()}


@dataclass(frozen=True)
class Annotator:
    """Style lives here; `annotate` takes the data."""

    thickness: int = 2
    """Box line width in pixels."""
    font_scale: float = 0.55
    """Label text size."""

    show_fps: bool = True
    """Write the result's FPS in the top-left corner."""

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        """Draw `result`'s faces (and FPS) on `frame` in place and return it."""
        for face in result.faces:
            box = face.box
            colour = COLOURS.get(face.label, (160, 160, 160))
            cv2.rectangle(frame, (box.x, box.y), (box.x + box.w, box.y + box.h), colour, self.thickness)
            text = f"{face.label} {face.score:.0%}"
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, self.font_scale, 1)
            top = max(0, box.y - th - base - 4)
            cv2.rectangle(frame, (box.x, top), (box.x + tw + 6, top + th + base + 4), colour, cv2.FILLED)
            cv2.putText(frame, text, (box.x + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, self.font_scale,
                        (0, 0, 0), 1, cv2.LINE_AA)
        if self.show_fps and result.fps is not None:
            cv2.putText(frame, f"{result.fps:.1f} FPS", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 0), 2,
                        cv2.LINE_AA)
        return frame
