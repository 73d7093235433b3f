import numpy as np
import pytest

from agf_core.inputs.face import MediaPipeFaceDetector, align_crop, check_frame, largest, smoothness


@pytest.fixture(scope="module")
def detector():
    with MediaPipeFaceDetector() as det:
        yield det


def test_detects_the_face_in_a_real_photo(detector, face_photo):
    face = largest(detector.detect(face_photo))
    assert face is not None and face.score > 0.8
    x, y, w, h = face.box
    # Grace Hopper's face sits in the upper middle of the 512x600 portrait
    assert 100 < x + w / 2 < 400 and 100 < y + h / 2 < 350 and 120 < w < 300
    assert face.left_eye[0] < face.right_eye[0]


def test_crop_is_48_grey_and_centred_on_the_face(detector, face_photo):
    crop = align_crop(face_photo, largest(detector.detect(face_photo)))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop.std() > 20  # real image content, not the replicated border


def test_blank_and_noise_frames_have_no_face(detector):
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert largest([]) is None
    rng = np.random.default_rng(0)
    # BlazeFace alone finds a "face" in about a third of these (scores up to 0.64)
    noise = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(20)]
    assert sum(len(detector.detect(f)) for f in noise) == 0


def test_faces_far_from_the_camera_are_still_found(detector, face_photo):
    import cv2
    canvas = np.zeros((480, 640, 3), np.uint8)                       # the face ~1/3 of the frame's width
    canvas[140:340, 220:420] = cv2.resize(face_photo, (200, 200))
    assert largest(detector.detect(canvas)) is not None
    assert smoothness(face_photo, (0, 0, 100, 100)) > 0.9


@pytest.mark.parametrize("frame, match", [
    (np.zeros((480, 640), np.uint8), r"shape \(480, 640\)"),
    (np.zeros((480, 640, 4), np.uint8), r"shape \(480, 640, 4\)"),
    (np.zeros((480, 640, 3), np.float32), "dtype float32"),
    (np.zeros((8, 8, 3), np.uint8), "H, W >= 16"),
    ("frame.jpg", "numpy array"),
])
def test_bad_frames_are_named(frame, match):
    with pytest.raises(ValueError, match=match):
        check_frame(frame)


def test_cutmix_pastes_one_box_and_reports_the_kept_area():
    import torch
    from agf_core.training.video import cutmix
    g = torch.Generator().manual_seed(3)
    x = torch.arange(4, dtype=torch.float32)[:, None, None, None].expand(4, 1, 48, 48).clone()  # image i is all i
    y = torch.arange(4)
    mixed, y1, y2, lam = cutmix(x, y, g)
    assert torch.equal(y1, y) and sorted(y2.tolist()) == [0, 1, 2, 3]
    for i in range(4):   # each image holds only its own value and its partner's, the partner's on 1 - lam
        other = (mixed[i] == y2[i]).float().mean().item() if y2[i] != i else 1 - lam
        assert set(mixed[i].unique().tolist()) <= {float(i), float(y2[i])}
        assert abs(other - (1 - lam)) < 1e-6


def test_train_cli_names_bad_face_options(tmp_path):
    from agf_core.training.train import main
    with pytest.raises(SystemExit, match="--cutmix is only accepted with --task video"):
        main(["--task", "text", "--cutmix", "0.5", "--data-root", str(tmp_path), "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="--cutmix 1.5 must lie in"):
        main(["--task", "video", "--cutmix", "1.5", "--data-root", str(tmp_path), "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="--init .*nope.pt is not a file"):
        main(["--task", "video", "--init", str(tmp_path / "nope.pt"), "--data-root", str(tmp_path),
              "--out", str(tmp_path / "r")])


def test_the_apps_detector_runs_without_network_and_survives_its_process(detector, face_photo):
    """The app's detector (agf_core/inputs/detector_process.py) finds the same faces as MediaPipe in this
    process, from a child in another network namespace; bad frames are refused here; a killed child restarts."""
    import os
    import signal
    from agf_core.inputs.detector_process import IsolatedFaceDetector
    with IsolatedFaceDetector() as isolated:
        assert isolated.detect(face_photo) == detector.detect(face_photo)
        if os.geteuid() == 0:                 # root can always leave; others need user namespaces
            assert isolated.isolated, "could not leave the network"
            assert os.readlink(f"/proc/{isolated.pid}/ns/net") != os.readlink("/proc/self/ns/net")
        with pytest.raises(ValueError, match="frame shape"):
            isolated.detect(np.zeros((8, 8, 3), np.uint8))
        first = isolated.pid
        os.kill(first, signal.SIGKILL)
        assert isolated.detect(face_photo) == detector.detect(face_photo) and isolated.pid != first


def test_a_frozen_detector_child_fails_its_frame_is_replaced_and_holds_no_one_up(face_photo):
    """Issue 22.5: a SIGSTOPped child froze every session: the frame was sent with no timeout under the lock
    all sessions share. Now the stuck call fails, the others fail at once instead of waiting, and a new child
    takes over. (Deadlines on threads, not timing assertions.)"""
    import os
    import signal
    import threading
    import time
    from agf_core.inputs.detector_process import DetectorBusy, IsolatedFaceDetector
    with IsolatedFaceDetector(frame_timeout_s=1.0, wait_s=0.2) as isolated:
        assert isolated.detect(face_photo)
        first = isolated.pid
        big = np.zeros((1440, 1920, 3), np.uint8)       # 8 MB: more than the socket takes, so the send blocks
        outcomes = {}

        def call(name, frame):
            try:
                outcomes[name] = isolated.detect(frame)
            except Exception as e:  # noqa: BLE001
                outcomes[name] = e
        os.kill(first, signal.SIGSTOP)
        try:
            a = threading.Thread(target=call, args=("a", big), daemon=True)
            a.start()
            end = time.monotonic() + 30
            while isolated._held_since is None and time.monotonic() < end:
                time.sleep(0.01)
            others = [threading.Thread(target=call, args=(f"b{i}", face_photo), daemon=True) for i in range(3)]
            for t in others:                            # other sessions' frames meanwhile
                t.start()
                t.join(30)
            a.join(60)
            assert not a.is_alive() and not any(t.is_alive() for t in others), "a call is still blocked"
        finally:
            try:
                os.kill(first, signal.SIGCONT)
            except ProcessLookupError:
                pass
        assert isinstance(outcomes["a"], RuntimeError) and "did not take or answer a frame within 1 s" in \
            str(outcomes["a"])
        assert all(isinstance(outcomes[f"b{i}"], DetectorBusy) for i in range(3))
        end = time.monotonic() + 120                    # the new child starts in the background
        while time.monotonic() < end:
            try:
                faces = isolated.detect(face_photo)
                break
            except DetectorBusy:
                time.sleep(0.1)
        assert faces and isolated.pid not in (None, first)
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)                            # the frozen one is gone


def test_ctrl_c_leaves_the_detectors_process_to_the_app(face_photo, capfd):
    """Ctrl-C reaches the whole process group: the detector's child must not print a KeyboardInterrupt
    traceback; the app shuts it down (it ends when its socket closes)."""
    import os
    import signal
    import time
    from agf_core.inputs.detector_process import IsolatedFaceDetector
    with IsolatedFaceDetector() as isolated:
        first = isolated.pid
        os.kill(first, signal.SIGINT)
        time.sleep(0.5)
        assert isolated.detect(face_photo) and isolated.pid == first       # still serving, not restarted
    assert "Traceback" not in capfd.readouterr().err
