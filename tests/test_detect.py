"""Face detectors: BlazeFace's anchors, decoding, suppression and letterbox; the detectors on real photos;
the small-face scan; crop framing; bad detector files and flags."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.blazeface import (
    MODELS,
    BlazeFaceDetector,
    BlazeFaceOptions,
    Letterbox,
    decode,
    letterbox,
    ssd_anchors,
    weighted_nms,
)
from edge.cli import main as edge_main
from edge.detect import (
    DETECTORS,
    FRAMINGS,
    DetectorOptions,
    Framing,
    HaarDetector,
    HaarOptions,
    ScanOptions,
    make_detector,
    merge,
    tiles,
)
from edge.model_file import ModelFileError
from edge.results import Box, Detection
from tests.conftest import ROOT, SAMPLES

PHOTOS = ("grace_hopper.jpg", "astronaut.png")


@pytest.mark.parametrize("model, count", [("short", 896), ("full", 2304)])
def test_anchor_count_and_centres_match_the_model(model, count):
    spec = MODELS[model]
    anchors = ssd_anchors(spec.size, spec.strides, spec.anchors_per_layer)
    assert anchors.shape == (count, 2)
    detector = BlazeFaceDetector(BlazeFaceOptions(model=model))
    assert detector.anchors.shape[0] == count  # the constructor also checks it against the output tensors
    first_stride = spec.strides[0]
    assert np.allclose(anchors[0], [0.5 * first_stride / spec.size] * 2)  # the first cell's centre
    assert anchors.min() > 0 and anchors.max() < 1


def test_short_range_anchor_layout():
    anchors = ssd_anchors(128, (8, 16, 16, 16), 2)
    assert np.allclose(anchors[:2], [[1 / 32, 1 / 32]] * 2)  # 16x16 grid, 2 per cell
    assert np.allclose(anchors[2], [3 / 32, 1 / 32])
    assert np.allclose(anchors[512:518], [[1 / 16, 1 / 16]] * 6)  # then 8x8, 6 per cell (3 layers x 2)


def test_decoding_puts_a_box_where_the_regressors_say():
    anchors = np.array([[0.25, 0.5], [0.75, 0.5]], np.float32)
    regressors = np.zeros((2, 16), np.float32)
    regressors[1, :4] = [12.8, -12.8, 25.6, 38.4]  # offsets and size in input pixels (128)
    regressors[1, 4:6] = [6.4, 0.0]  # first keypoint 0.05 right of the anchor
    boxes, keypoints, scores = decode(regressors, np.array([-5.0, 5.0]), anchors, 128, 0.5)
    assert len(boxes) == 1 and scores[0] == pytest.approx(1 / (1 + np.exp(-5)))
    assert np.allclose(boxes[0], [0.85 - 0.1, 0.4 - 0.15, 0.85 + 0.1, 0.4 + 0.15])
    assert np.allclose(keypoints[0, 0], [0.8, 0.5])


def test_weighted_suppression_merges_overlaps_and_keeps_apart_faces():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.8, 0.8]], np.float32)
    keypoints = np.zeros((3, 6, 2), np.float32)
    kept = weighted_nms(boxes, keypoints, np.array([0.9, 0.6, 0.8]), 0.3, 10)
    assert len(kept) == 2 and kept[0][2] == pytest.approx(0.9) and kept[1][2] == pytest.approx(0.8)
    assert np.allclose(kept[0][0], (0.9 * boxes[0] + 0.6 * boxes[1]) / 1.5)  # the score-weighted mean
    assert len(weighted_nms(boxes, keypoints, np.array([0.9, 0.6, 0.8]), 0.3, 1)) == 1


@pytest.mark.parametrize("shape", [(480, 640, 3), (600, 512, 3), (300, 300)])
def test_letterbox_round_trip(shape):
    image = np.zeros(shape, np.uint8)
    square, box = letterbox(image, 128)
    assert square.shape == (128, 128, 3) and square.min() == -1.0
    corners = np.array([[0, 0], [shape[1], shape[0]]], np.float64)
    in_input = np.stack([corners[:, 0] * box.scale + box.pad_x, corners[:, 1] * box.scale + box.pad_y], 1) / 128
    assert np.allclose(box.to_frame(in_input, 128), corners, atol=1e-6)
    assert np.allclose(Letterbox(0.5, 3, 5, 100, 200).to_frame(np.array([[0.5, 0.5]]), 128), [[222, 318]])


@pytest.mark.parametrize("model", ["short", "full"])
@pytest.mark.parametrize("photo", PHOTOS)
def test_blazeface_finds_the_face_in_each_sample_photo(model, photo):
    image = cv2.imread(str(SAMPLES / photo))
    haar = make_detector(DetectorOptions(kind="haar")).detect(image)[0].box
    found = BlazeFaceDetector(BlazeFaceOptions(model=model)).detect(image)
    assert len(found) == 1 and found[0].score > 0.8
    box, points = found[0].box, np.array(found[0].keypoints)
    assert box.iou(haar) > 0.5, (box, haar)
    assert points.shape == (6, 2)
    inside = (points[:4, 0] > box.x) & (points[:4, 0] < box.x + box.w) & (points[:4, 1] > box.y) & \
        (points[:4, 1] < box.y + box.h)
    assert inside.all(), "eyes, nose and mouth lie inside the box"
    right_eye, left_eye, nose, mouth = points[:4]
    assert right_eye[0] < left_eye[0] and max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def group_photo() -> tuple[np.ndarray, list[Box]]:
    """Both sample photos' heads side by side in one 640x480 frame, faces of about 120-170 px."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    boxes = []
    for i, name in enumerate(PHOTOS):
        photo = cv2.imread(str(SAMPLES / name))
        face = BlazeFaceDetector().detect(photo)[0].box
        top, left = max(0, face.y - face.h // 4), face.x - face.w // 4
        head = photo[top:face.y + face.h * 5 // 4, left:face.x + face.w * 5 // 4]
        frame[100:350, 30 + i * 320:280 + i * 320] = cv2.resize(head, (250, 250), interpolation=cv2.INTER_AREA)
        found = BlazeFaceDetector().detect(frame[100:350, 30 + i * 320:280 + i * 320])[0].box
        boxes.append(Box(found.x + 30 + i * 320, found.y + 100, found.w, found.h))
    return frame, boxes


@pytest.mark.parametrize("kind", DETECTORS)
def test_every_detector_finds_two_faces_in_one_frame(kind):
    frame, truth = group_photo()
    found = make_detector(DetectorOptions(kind=kind, scan=ScanOptions(background=False))).detect(frame)
    assert len(found) == 2
    assert sorted(max(d.box.iou(t) for d in found) > 0.4 for t in truth) == [True, True]


def test_the_scan_finds_a_small_face_the_whole_frame_pass_misses():
    photo = cv2.imread(str(SAMPLES / "grace_hopper.jpg"))
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[300:380, 500:568] = cv2.resize(photo, (68, 80), interpolation=cv2.INTER_AREA)  # a face of ~27 px
    frame[40:150, 60:154] = cv2.resize(photo, (94, 110), interpolation=cv2.INTER_AREA)  # ~37 px
    whole_only = make_detector(DetectorOptions(scan=ScanOptions(interval=0))).detect(frame)
    scanning = make_detector(DetectorOptions(scan=ScanOptions(background=False)))
    found = scanning.detect(frame)
    assert len(found) > len(whole_only) and any(60 <= d.box.x < 154 and 40 <= d.box.y < 150 for d in found)
    assert scanning.scans == 1


def test_the_background_scan_joins_later_frames():
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[40:150, 60:154] = cv2.resize(cv2.imread(str(SAMPLES / "grace_hopper.jpg")), (94, 110))
    detector = make_detector(DetectorOptions())
    detector.detect(frame)
    detector.close()  # waits for the scan started by the first frame
    assert detector.scans == 1 and len(detector.detect(frame)) >= 1


def test_every_background_scan_runs_on_one_long_lived_thread():
    """A new thread per scan grew native memory by about 1 KB a scan (the soak benchmark found it)."""
    import threading
    import time

    def scan_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "fer-edge-scan"}

    earlier = scan_threads()  # other tests' detectors not yet collected
    frame = np.full((480, 640, 3), 120, np.uint8)
    detector = make_detector(DetectorOptions(scan=ScanOptions(interval=0.001)))
    seen = set()
    deadline = time.monotonic() + 60
    while detector.scans < 4 and time.monotonic() < deadline:
        detector.detect(frame)
        seen |= scan_threads() - earlier
    assert detector.scans >= 4 and len(seen) == 1
    detector.close()
    assert not seen & scan_threads()


def test_a_recogniser_nobody_closes_lets_the_process_exit():
    """The scan thread is stopped at exit (after its scan in flight), never left to block or abort it."""
    code = ("import cv2; from edge.pipeline import Recognizer; r = Recognizer(); "
            f"capture = cv2.VideoCapture({str(SAMPLES / 'demo.mp4')!r}); "
            "[r.recognize(capture.read()[1]) for _ in range(60)]; print('done')")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "done", run.stderr[-500:]


def test_tiles_cover_the_frame_with_half_tile_overlap():
    found = tiles(640, 480, 200)
    assert all(0 <= x <= 440 and 0 <= y <= 280 for x, y, _, _ in found)
    assert {x for x, _, _, _ in found} >= {0, 440} and {y for _, y, _, _ in found} >= {0, 280}
    xs = sorted({x for x, _, _, _ in found})
    assert max(b - a for a, b in zip(xs, xs[1:])) <= 100


def test_merge_drops_duplicates_and_parts_of_a_face():
    big = Detection(Box(100, 100, 200, 200), 0.9)
    part = Detection(Box(150, 150, 60, 60), 0.8)  # inside the big face
    other = Detection(Box(400, 50, 50, 50), 0.7)
    assert merge([big], [part, other, Detection(Box(102, 98, 200, 204), 0.95)], 0.3) == [big, other]


def test_framing_maps_a_box_to_a_square_crop():
    assert Framing(1.2, 0.0, 0.1).crop_box(Box(100, 100, 100, 100)) == Box(90, 100, 120, 120)
    assert Framing().crop_box(Box(5, 6, 70, 70)) == Box(5, 6, 70, 70)
    assert set(FRAMINGS) == set(DETECTORS)


def test_the_shipped_detector_files_match_their_recorded_sha256():
    readme = (ROOT / "edge" / "detectors" / "README.md").read_text()
    recorded = dict(re.findall(r"\| `(\S+\.tflite)` \| [\d,]+ \| `([0-9a-f]{64})` \|", readme))
    assert set(recorded) == {m.file for m in MODELS.values()}
    for name, digest in recorded.items():
        assert hashlib.sha256((ROOT / "edge" / "detectors" / name).read_bytes()).hexdigest() == digest
    assert "Apache License" in (ROOT / "edge" / "detectors" / "LICENSE-mediapipe").read_text()


def test_a_file_that_is_not_a_face_detector_is_refused(tmp_path, tiny_tflite):
    with pytest.raises(ModelFileError, match="not a BlazeFace short-range detector"):
        BlazeFaceDetector(path=tiny_tflite["int8"])
    with pytest.raises(ModelFileError, match="cannot read the face detector"):
        BlazeFaceDetector(path=tmp_path / "missing.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"junk" * 10)
    with pytest.raises(ModelFileError, match="not a TFLite model"):
        BlazeFaceDetector(path=tmp_path / "junk.tflite")


def test_an_unknown_detector_is_argparses_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        edge_main(["--detector", "yolo"])
    assert exit_.value.code == 2 and "invalid choice: 'yolo'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--detector", "haar", "--scale-factor", "1.0"], "scale_factor must be above 1"),
    (["--min-score", "1.5"], "score_threshold must be in (0, 1)"),
    (["--detector", "haar", "--min-face", "0"], "min_face=0"),
])
def test_bad_detector_settings_are_one_line(argv, message, capsys):
    assert edge_main(["--source", str(SAMPLES / "grace_hopper.jpg"), "--headless", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("kind", DETECTORS)
def test_each_detector_runs_the_pipeline_and_is_named(kind, tmp_path, capsys):
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(SAMPLES / "astronaut.png"), "--headless", "--detector", kind,
                      "--jsonl", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["detector"] == kind and len(record["faces"]) == 1
    assert ("keypoints" in record["faces"][0]) == kind.startswith("blazeface")
    assert f"detector {kind}" in capsys.readouterr().err


def test_photos_of_a_folder_do_not_share_faces(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), cv2.imread(str(SAMPLES / "grace_hopper.jpg")))
    cv2.imwrite(str(tmp_path / "b.jpg"), np.full((600, 512, 3), 128, np.uint8))
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(tmp_path), "--headless", "--quiet", "--jsonl", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(r["faces"]) for r in records] == [1, 0], "nothing carries over from one photo to the next"


def test_regions_in_one_invoke_match_regions_one_by_one():
    """The short-range model concatenates two anchor groups, so a batch's outputs are grouped per layer."""
    frame, _ = group_photo()
    regions = [(0, 0, 320, 480), (320, 0, 320, 480), (100, 50, 400, 400)]
    batched = BlazeFaceDetector().detect_regions(frame, regions)
    alone = [BlazeFaceDetector().detect_regions(frame, [region])[0] for region in regions]
    assert [len(faces) for faces in batched][:2] == [1, 1]
    for got, expected in zip(batched, alone):
        assert [(d.box, round(d.score, 5)) for d in got] == [(d.box, round(d.score, 5)) for d in expected]


def test_info_names_the_detector(capsys):
    assert edge_main(["info", str(ROOT / "models" / "fer_compact_int8.tflite"), "--detector", "haar"]) == 0
    detector = json.loads(capsys.readouterr().out)["detector"]
    assert detector["name"] == "haar" and detector["framing"] == vars(FRAMINGS["haar"])
    assert edge_main(["info", str(ROOT / "models" / "fer_compact_int8.tflite")]) == 0
    assert json.loads(capsys.readouterr().out)["detector"]["file"].endswith("face_detection_short_range.tflite")


def test_fer_eval_detect_scores_whole_photos_and_names_those_without_a_face(tmp_path, capsys):
    from train.cli import eval_main

    (tmp_path / "happy").mkdir()
    (tmp_path / "neutral").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "astronaut.png"), cv2.imread(str(SAMPLES / "astronaut.png")))
    cv2.imwrite(str(tmp_path / "neutral" / "wall.png"), np.full((300, 300, 3), 128, np.uint8))
    out = tmp_path / "detect.json"
    model = ROOT / "models" / "fer_compact_int8.tflite"
    assert eval_main([str(model), str(tmp_path), "--detect", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["images"], result["with_face"], result["no_face_first"]) == (2, 1, ["neutral/wall.png"])
    assert result["accuracy"]["crop"] == 1.0, "the astronaut smiles"
    assert "no face in 1 images, first: neutral/wall.png" in capsys.readouterr().out
    (tmp_path / "smug").mkdir()
    assert eval_main([str(model), str(tmp_path), "--detect"]) == 2
    assert "unknown: smug" in capsys.readouterr().err


@pytest.mark.parametrize("photo", ["grace_hopper.jpg", "astronaut.png"])
@pytest.mark.parametrize("detect_width", [0, 320])
def test_haar_finds_the_face_in_full_frame_coordinates(photo, detect_width):
    image = cv2.imread(str(SAMPLES / photo), cv2.IMREAD_GRAYSCALE)
    truth = BlazeFaceDetector().detect(image)[0].box
    found = [d.box for d in HaarDetector(HaarOptions(detect_width=detect_width)).detect(image)]
    face = max(found, key=truth.iou)
    assert truth.iou(face) > 0.5 and 0 <= face.x and face.x + face.w <= image.shape[1]


def test_downscaled_and_full_size_detection_agree():
    image = cv2.imread(str(SAMPLES / "grace_hopper.jpg"), cv2.IMREAD_GRAYSCALE)
    full = HaarDetector(HaarOptions(detect_width=0)).detect(image)[0].box
    small = HaarDetector(HaarOptions(detect_width=300)).detect(image)[0].box
    assert full.iou(small) > 0.7


@pytest.mark.parametrize("kind", DETECTORS)
def test_no_face_in_a_blank_frame(kind):
    detector = make_detector(DetectorOptions(kind=kind, scan=ScanOptions(background=False)))
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []


@pytest.mark.parametrize("kwargs", [{"scale_factor": 1.0}, {"min_face": 0}, {"cascade": "nope.xml"}])
def test_bad_haar_options(kwargs):
    with pytest.raises((ValueError, FileNotFoundError)):
        HaarDetector(HaarOptions(**kwargs))
