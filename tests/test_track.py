"""The tracker: ids across frames, smoothing, forgetting faces."""


import pytest

from edge.results import Box, Face, Prediction
from edge.track import Tracker, TrackerOptions


def face(box: Box, probabilities: list[float]) -> Face:
    return Face(box, Prediction.of(["sad", "happy"], probabilities))


def test_tracker_keeps_ids_and_smooths():
    tracker = Tracker(TrackerOptions(smoothing=0.5))
    happy, sad = [0.0, 1.0], [1.0, 0.0]
    first, = tracker.update([face(Box(10, 10, 50, 50), happy)])
    assert first.label == "happy" and first.id > 0
    second, = tracker.update([face(Box(12, 11, 50, 50), sad)])  # same face, moved a little
    assert second.id == first.id and second.box == Box(12, 11, 50, 50)
    assert second.probabilities == {"sad": 0.5, "happy": 0.5}
    third, = tracker.update([face(Box(400, 10, 50, 50), sad)])  # far away: a new face
    assert third.id != first.id and third.label == "sad"


@pytest.mark.parametrize("missed, same", [(3, True), (4, False)])
def test_tracker_keeps_a_face_for_max_missed_frames_then_forgets_it(missed, same):
    tracker = Tracker(TrackerOptions(max_missed=3))
    first, = tracker.update([face(Box(0, 0, 10, 10), [0.5, 0.5])])
    for _ in range(missed):
        tracker.update([])
    again, = tracker.update([face(Box(0, 0, 10, 10), [0.5, 0.5])])
    assert (again.id == first.id) is same
