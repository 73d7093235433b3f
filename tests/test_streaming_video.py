import numpy as np
import pytest

from streaming.live.video import FaceWindow, VideoOptions, draw_box


def _webcam(photo):
    import cv2
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 64:576] = cv2.resize(photo, (512, 480))
    return frame


def test_window_fills_refreshes_and_is_bounded(recognizer, face_photo):
    w = FaceWindow(VideoOptions(window=8, refresh_s=0.4))
    frame = _webcam(face_photo)
    refreshed = [w.push(frame, t * 0.1, recognizer) for t in range(20)]   # 10 fps for 2 s
    assert len(w.crops) == 8 and w.present and w.box is not None
    assert 4 <= sum(refreshed) <= 6                                           # ~every 0.4 s
    assert abs(w.output.probs.sum() - 1) < 1e-5 and w.output.embedding.shape == (256,)


def test_the_window_computes_each_crop_once_and_predicts_as_the_whole_window_would(recognizer, face_photo):
    """The live window keeps each crop's network features: its prediction equals running the network on the
    window's crops, and each refresh costs one crop, not eight."""
    import cv2
    w, calls = FaceWindow(VideoOptions(window=8, refresh_s=0.0)), []
    real = recognizer.face_features

    class Counting:
        def __getattr__(self, name):
            return getattr(recognizer, name)

        def face_features(self, crop):
            calls.append(1)
            return real(crop)
    for t in range(12):             # a face that turns a little from frame to frame: the crops differ
        turned = cv2.warpAffine(face_photo, cv2.getRotationMatrix2D((256, 240), t - 6, 1.0), face_photo.shape[1::-1])
        w.push(_webcam(turned), t * 0.1, Counting())
    assert len(calls) == 12 and len(w.crops) == len(w.features) == 8
    whole = recognizer.video_from_crops(list(w.crops))
    np.testing.assert_allclose(w.output.logp, whole.logp, atol=1e-5)
    np.testing.assert_allclose(w.output.embedding, whole.embedding, atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        recognizer.face_features(np.zeros((48, 48), np.float32))
    with pytest.raises(ValueError, match="at least one"):
        recognizer.video_from_features([])


def test_no_face_clears_the_window_after_forget_time(recognizer, face_photo):
    w = FaceWindow(VideoOptions(forget_s=1.0))
    w.push(_webcam(face_photo), 0.0, recognizer)
    blank = np.zeros((480, 640, 3), np.uint8)
    w.push(blank, 0.5, recognizer)
    assert w.present and w.box is None          # a short dropout keeps the last prediction
    w.push(blank, 1.5, recognizer)
    assert not w.present and len(w.crops) == 0


def test_odd_frame_sizes_work(recognizer, face_photo):
    import cv2
    w = FaceWindow()
    for size in ((97, 131), (1080, 1920), (480, 640)):
        w.push(cv2.resize(face_photo, size[::-1]), 0.0, recognizer)
    with pytest.raises(ValueError, match="shape"):
        w.push(np.zeros((480, 640), np.uint8), 0.0, recognizer)


def test_draw_box_copies():
    frame = np.zeros((100, 100, 3), np.uint8)
    out = draw_box(frame, (10, 10, 50, 50), "joy")
    assert out is not frame and out.sum() > 0 and frame.sum() == 0
    assert draw_box(frame, None) is frame
