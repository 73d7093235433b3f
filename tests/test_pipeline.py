"""The live pipeline's handlers called directly with numpy frames and (48000, int16) chunks."""
import numpy as np
import pytest

from conftest import speak
from streaming.live.pipeline import LivePipeline, PipelineOptions, latency_summary
from streaming.dialogue.reply import TemplateReply
from streaming.live.state import Listening


class FakeTranscriber:
    def __init__(self, text="I passed my exam today"):
        self.text, self.calls = text, 0

    def __call__(self, audio16k):
        self.calls += 1
        return self.text


class BrokenTranscriber:
    def __call__(self, audio16k):
        raise RuntimeError("ASR exploded")


def _chunks(pcm, size=24000):
    return [(48000, pcm[i:i + size]) for i in range(0, len(pcm), size)]


@pytest.fixture(scope="module")
def utterance_pcm(tmp_path_factory):
    _, speech = speak("I passed my exam today, I am so happy.", tmp_path_factory.mktemp("p") / "s.wav")
    quiet = np.zeros(48000, np.int16)
    return np.concatenate([quiet, speech, quiet, quiet])


def test_typed_text_gives_prediction_and_reply(recognizer):
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    state = pipe.new_state("P01")
    turn = pipe.on_text(state, "This is the best day ever, I'm so happy!")
    assert turn.prediction.label == "joy" and set(turn.prediction.weights) == {"text"}
    assert "wonderful" in turn.reply.lower() or "happy" in turn.reply.lower() or "love" in turn.reply.lower() \
        or "smile" in turn.reply.lower()
    assert state.session.transcript[0]["source"] == "typed" and len(state.session.timeline) == 1
    assert pipe.on_text(state, "   ") is None


def test_utterance_gives_transcript_audio_text_and_reply(recognizer, utterance_pcm):
    asr = FakeTranscriber()
    pipe = LivePipeline(recognizer, asr, TemplateReply())
    state = pipe.new_state()
    for c in _chunks(utterance_pcm):
        assert pipe.on_audio(state, c)                     # queued only: nothing runs in the handler
    assert asr.calls == 0 and state.inbox.samples_in == len(utterance_pcm)
    pipe.close(state)
    turns = pipe.drain(state)
    assert len(turns) == 1 and asr.calls >= 1              # the final transcript (plus partials while speaking)
    turn = turns[0]
    assert turn.text == "I passed my exam today" and turn.reply
    assert set(turn.prediction.per_modality) == {"audio", "text"}
    assert state.timbre in ("low", "mid", "high")
    # the microphone stopped: the turn had the voice, then the voice leaves fusion and the page says why
    assert state.status["audio"].reason == "microphone off" and "audio" not in state.speech
    assert {"vad", "asr", "audio_emotion", "text_emotion", "fusion", "reply"} <= set(latency_summary(state))


def test_failing_asr_keeps_the_voice(recognizer, utterance_pcm):
    pipe = LivePipeline(recognizer, BrokenTranscriber(), TemplateReply())
    state = pipe.new_state()
    for c in _chunks(utterance_pcm):
        pipe.on_audio(state, c)
    pipe.close(state)
    turns = pipe.drain(state)
    assert len(turns) == 1 and set(turns[0].prediction.per_modality) == {"audio"}
    assert state.status["text"].state == "failed" and "ASR exploded" not in str(state.status["text"])
    assert turns[0].prediction.status["text"].state == "failed"


def test_frames_and_no_face(recognizer, face_photo):
    import cv2
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply(), PipelineOptions(face_every_s=0.0))
    state = pipe.new_state()
    frame = cv2.resize(face_photo, (640, 480))
    pipe.on_frame(state, frame)
    pipe.step(state)
    assert set(state.last.per_modality) == {"video"} and state.status["video"].state == "ok"
    pipe.on_frame(state, np.zeros((480, 640, 3), np.uint8))
    pipe.step(state)
    assert state.status["video"].reason == "no face found"
    pipe.on_frame(state, None)
    assert state.inbox.frame is None
    # a bad frame marks video failed (in plain words; details go to the log) instead of raising
    pipe.on_frame(state, np.zeros((10, 10), np.uint8))
    pipe.step(state)
    assert state.status["video"].state == "failed" and "ValueError" not in str(state.status["video"])


def test_a_stopped_microphone_and_a_stopped_camera_leave_the_fusion(recognizer, face_photo, utterance_pcm):
    import cv2
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply(), PipelineOptions(face_every_s=0.0))
    state = pipe.new_state()
    for c in _chunks(utterance_pcm):
        pipe.on_audio(state, c)
    pipe.close(state)
    pipe.drain(state)
    typed = pipe.on_text(state, "My grandmother passed away, I can't stop crying.")
    assert set(typed.prediction.weights) == {"text"}                  # not the last utterance's voice
    assert typed.prediction.label == "sadness"
    pipe.on_frame(state, cv2.resize(face_photo, (640, 480)))
    pipe.step(state)
    assert "video" in state.last.weights
    state.inbox.frame_at -= 10.0                                       # the camera sent nothing since
    with state.lock:
        pred = pipe.fuse(state, "typed")
    assert "video" not in pred.weights and pred.status["video"].reason == "no face seen in the last few seconds"


def test_only_the_newest_frame_waits_and_dropped_frames_are_counted(recognizer, face_photo):
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    state = pipe.new_state()
    for _ in range(5):
        pipe.on_frame(state, face_photo)
    assert state.inbox.frames_in == 5 and state.inbox.frames_dropped == 4
    pipe.step(state)
    assert state.inbox.frame is None
    pipe.on_frame(state, face_photo)
    pipe.step(state)                     # read one 0.2 s ago at most: this one waits for the next step
    assert state.inbox.frame is not None


@pytest.mark.parametrize("chunk", [(48000, np.zeros(10, np.uint8)), (10, np.zeros(24000, np.int16)),
                                   (48000, np.zeros(48000 * 60, np.int16)), (48000.0, np.zeros(10, np.int16))])
def test_bad_audio_chunk_is_refused_without_raising(recognizer, chunk):
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    state = pipe.new_state()
    assert pipe.on_audio(state, chunk) is False
    assert state.status["audio"].state == "failed" and state.inbox.samples_in == 0
    assert "dtype" not in str(state.status["audio"])                      # plain words for the participant
    assert pipe.on_audio(state, None) is True


class FlakyTranscriber:
    def __init__(self, fails: int, result="I passed my exam today"):
        self.fails, self.result, self.calls = fails, result, 0

    def __call__(self, audio16k):
        self.calls += 1
        if self.calls <= self.fails:
            raise RuntimeError("ASR hiccup")
        return self.result


def _speak_and_drain(pipe, state, pcm):
    for c in _chunks(pcm):
        pipe.on_audio(state, c)
    pipe.close(state)
    return pipe.drain(state)


def test_a_failed_transcription_is_retried_with_the_same_audio(recognizer, utterance_pcm):
    asr = FlakyTranscriber(fails=1)
    pipe = LivePipeline(recognizer, asr, TemplateReply(), PipelineOptions(partial_min_s=1e9))
    state = pipe.new_state()
    turns = _speak_and_drain(pipe, state, utterance_pcm)
    assert asr.calls == 2 and turns[0].text == "I passed my exam today" and state.notice == ""


def test_asr_that_fails_twice_or_returns_no_str_asks_to_repeat(recognizer, utterance_pcm):
    for asr in (FlakyTranscriber(fails=5), FakeTranscriber(text=None)):
        pipe = LivePipeline(recognizer, asr, TemplateReply(), PipelineOptions(partial_min_s=1e9))
        state = pipe.new_state()
        turns = _speak_and_drain(pipe, state, utterance_pcm)
        assert "couldn't catch that" in state.notice
        assert state.status["text"].state == "failed" and set(turns[0].prediction.per_modality) == {"audio"}


def test_a_failing_text_model_does_not_leave_the_last_words_in_fusion(recognizer):
    class BrokenText:
        def __getattr__(self, name):
            return getattr(recognizer, name)

        def text(self, *a, **k):
            raise RuntimeError("text model down")
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    state = pipe.new_state()
    pipe.on_text(state, "We won the championship!")
    pipe.recognizer = BrokenText()
    turn = pipe.on_text(state, "My dog died this morning.")
    assert "text" not in turn.prediction.per_modality and turn.prediction.status["text"].state == "failed"


class BrokenText:
    """The recognizer with its text model down."""
    def __init__(self, recognizer):
        self.recognizer = recognizer

    def __getattr__(self, name):
        return getattr(self.recognizer, name)

    def text(self, *a, **k):
        raise RuntimeError("text model down")


def test_a_turn_nothing_could_be_read_from_is_stored_without_a_label_and_says_why(recognizer, tmp_path):
    """Issue 22.7: such a turn was stored as "neutral", indistinguishable from a neutral reading."""
    from streaming.dialogue.conversation import conversation_html
    from streaming.study.store import StudyStore
    from streaming.study.study import Study
    pipe = LivePipeline(BrokenText(recognizer), FakeTranscriber(), TemplateReply())
    state = pipe.new_state()
    study = Study(StudyStore(f"sqlite:///{tmp_path}/s.db"))
    study.begin(state)
    turn = pipe.on_text(state, "We won the championship!")
    assert turn.prediction.label is None and turn.reply                        # still answered
    said = state.session.transcript[-1]
    assert said["emotion"] is None and said["why_no_emotion"] == \
        "words: word reading failed; voice: nothing said recently; face: waiting"
    assert "(typed, no reading)" in conversation_html(state.session.transcript, state.session.replies)
    study.store.flush()
    row = study.store.rows("utterances", state.session.session_id)[0]
    assert row["emotion"] is None and row["why_no_emotion"].startswith("words: word reading failed")
    assert study.store.rows("replies", state.session.session_id)[0]["emotion"] is None
    pipe.recognizer = recognizer                                              # the text model is back
    pipe.on_text(state, "We won the championship!")
    assert state.session.transcript[-1]["emotion"] == "joy" and "why_no_emotion" not in state.session.transcript[-1]


def test_partial_words_appear_while_speaking(recognizer, utterance_pcm):
    asr = FakeTranscriber("I passed")
    pipe = LivePipeline(recognizer, asr, TemplateReply(), PipelineOptions(partial_every_s=0.5))
    state = pipe.new_state()
    seen = []
    for c in _chunks(utterance_pcm, 12000):
        pipe.on_audio(state, c)
        pipe.step(state)
        if state.partial_job is not None:
            state.partial_job.result()                 # decoded beside the worker, which went on meanwhile
        seen.append((state.listening.since_s is not None, state.listening.partial))
    assert any(listening for listening, _ in seen)
    assert ("I passed" in [p for _, p in seen]) and state.listening.since_s is None   # final replaced it


def test_previews_use_the_cheap_pass_come_sooner_while_under_two_words_and_keep_the_last_words(recognizer, utterance_pcm):
    class Previews(FakeTranscriber):
        def __init__(self):
            super().__init__()
            self.previews = []                     # (utterance seconds, words) of each preview

        def preview(self, audio16k):
            words = ["", "I", "I passed", ""][min(len(self.previews), 3)]
            self.previews.append((len(audio16k) / 16000, words))
            return words
    asr = Previews()
    pipe = LivePipeline(recognizer, asr, TemplateReply(), PipelineOptions(partial_every_s=1.0, partial_retry_s=0.3,
                                                                          early_final=False))
    state = pipe.new_state()
    shown = []
    for c in _chunks(utterance_pcm, 4800):         # 0.1 s chunks
        pipe.on_audio(state, c)
        turns = pipe.step(state)
        if state.partial_job is not None:
            state.partial_job.result()
        shown.append("<final>" if turns else state.listening.partial)
    seconds = [s for s, _ in asr.previews]
    assert len(seconds) == 4 and asr.calls == 1          # previews through preview(); the final words through __call__
    assert 0.3 <= seconds[1] - seconds[0] < 0.5          # no words yet: the next preview 0.3 s later, not 1 s
    assert 0.3 <= seconds[2] - seconds[1] < 0.5          # one word: again soon
    assert seconds[3] - seconds[2] >= 1.0                # two words shown: the next one a second later
    assert set(shown[shown.index("I passed"):shown.index("<final>")]) == {"I passed"}   # an empty preview kept them
    assert state.session.transcript[-1]["text"] == "I passed my exam today"


class NoWords(FakeTranscriber):
    """Previews that never find words (noise, mumbling); the final decode has them."""
    def __init__(self):
        super().__init__()
        self.previews = []

    def preview(self, audio16k):
        self.previews.append(len(audio16k) / 16000)
        return ""


def test_quick_retries_stop_partial_retry_for_s_into_the_utterance(recognizer, utterance_pcm):
    asr = NoWords()
    pipe = LivePipeline(recognizer, asr, TemplateReply(), PipelineOptions(partial_retry_s=0.3, partial_retry_for_s=1.2,
                                                                          early_final=False))
    state = pipe.new_state()
    for c in _chunks(utterance_pcm, 4800):
        pipe.on_audio(state, c)
        pipe.step(state)
        if state.partial_job is not None:
            state.partial_job.result()
    gaps = [(b, b - a) for a, b in zip(asr.previews, asr.previews[1:])]     # (utterance seconds, since the last)
    early, late = [g for at, g in gaps if at < 1.2], [g for at, g in gaps if at >= 1.3]
    assert early and all(0.3 <= g < 0.5 for g in early)                    # early on: again 0.3 s later
    assert late and all(g >= 1.0 for g in late)                            # then once a second


def test_a_preview_that_returns_after_the_final_words_does_not_replace_them(recognizer):
    asr = NoWords()
    asr.preview = lambda audio16k: "I pass"                # a preview of the utterance that has just ended
    pipe = LivePipeline(recognizer, asr, TemplateReply())
    state = pipe.new_state()
    state.listening = Listening(1.0)
    with pipe._asr_lock:
        pipe._asr_running += 1                             # as _partial does when it submits the preview
    state.listening.partial, state.listening.final = "I passed my exam today", True   # shown by on_utterance
    pipe._partial_words(state, np.zeros(16000, np.float32), 1.0)
    assert state.listening.partial == "I passed my exam today" and pipe._asr_running == 0


def test_the_final_words_do_not_wait_for_a_partial_and_a_late_partial_is_dropped(recognizer, utterance_pcm):
    """A preview still decoding when the utterance ends neither delays its final words nor replaces them."""
    import threading
    release = threading.Event()

    class SlowPreview:
        calls = 0

        def __call__(self, audio16k):
            self.calls += 1
            if self.calls == 1:            # the first decode is a partial: it hangs until released
                release.wait(60)
            return "I passed"
    pipe = LivePipeline(recognizer, SlowPreview(), TemplateReply(), PipelineOptions(partial_every_s=0.5))
    state = pipe.new_state()
    turns = []
    for c in _chunks(utterance_pcm, 12000):
        pipe.on_audio(state, c)
        turns += pipe.step(state)
    pipe.close(state)
    turns += pipe.drain(state)
    assert [t.text for t in turns] == ["I passed"] and not state.partial_job.done()
    release.set()
    state.partial_job.result()
    assert state.listening.since_s is None and state.listening.partial == ""


def test_local_mode_without_devices_exits_with_a_clear_message():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "streaming.live.local", "--camera", "7", "--seconds", "1"],
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    if done.returncode == 0:
        pytest.skip("this machine has a camera or microphone")
    assert done.returncode == 2 and "neither a camera nor a microphone" in done.stderr


class RecordingReply:
    """Echoes the words and records how many earlier turns each reply saw; slow enough to overlap."""

    def __init__(self):
        self.seen = []

    def __call__(self, said, history=()):
        from streaming.dialogue.reply import Reply
        import time
        self.seen.append(len(history))
        time.sleep(0.02)
        return Reply(f"re: {said.text}", "plain", "neutral", "words")


def test_typed_and_spoken_turns_take_turns(recognizer):
    """A typed turn (the page's handler thread) and a spoken one (the worker) never interleave: every reply
    sees all the turns before it, and each transcript line keeps its own reply and timeline row."""
    import threading
    reply = RecordingReply()
    pipe = LivePipeline(recognizer, FakeTranscriber(), reply)
    state = pipe.new_state()
    said = [f"message number {i}" for i in range(6)]
    threads = [threading.Thread(target=pipe._turn, args=(state, s, src))
               for s, src in zip(said, ["typed", "speech"] * 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(reply.seen) == list(range(6))
    assert sorted(u["text"] for u in state.session.transcript) == said
    assert all(r["text"] == f"re: {u['text']}" for u, r in zip(state.session.transcript, state.session.replies))
    assert [r["source"] for r in state.session.timeline].count("typed") == 3


def test_final_words_show_before_the_reply_is_ready(recognizer, utterance_pcm):
    from streaming.dialogue.reply import Reply
    seen = []
    pipe = LivePipeline(recognizer, FakeTranscriber(), None, PipelineOptions(partial_min_s=1e9))
    state = pipe.new_state()

    def reply(said, history=()):          # what the page would show while the reply is being made
        seen.append((state.listening.since_s is not None, state.listening.partial))
        return Reply("Go on.", "plain", "neutral", "words")
    pipe.reply = reply
    turns = _speak_and_drain(pipe, state, utterance_pcm)
    assert seen == [(True, "I passed my exam today")] and turns[0].reply == "Go on."
    assert state.listening.since_s is None and state.listening.partial == ""   # now in the conversation


def test_the_final_words_are_decoded_during_the_hangover_and_used_once(recognizer, utterance_pcm, monkeypatch):
    """Posted live (0.1 s at a time, a worker step after each): the final words and the voice are read once,
    while the segmenter still waits out the hangover, and those readings are the turn's; without `early_final`
    they come after the utterance ended."""
    for early in (True, False):
        pipe = LivePipeline(recognizer, None, TemplateReply(), PipelineOptions(partial_min_s=1e9, early_final=early))
        state = pipe.new_state()
        open_at_decode = []

        def asr(audio16k):
            open_at_decode.append(state.segmenter.in_speech)
            return "I passed my exam today"
        pipe.transcriber = asr
        voice_read, read_voice = [], type(recognizer).audio

        def audio(chunk, state=state):
            voice_read.append(state.segmenter.in_speech)
            return read_voice(recognizer, chunk)
        monkeypatch.setattr(recognizer, "audio", audio)
        words_read, read_words = [], type(recognizer).text

        def text(words, context=(), state=state):
            words_read.append(state.segmenter.in_speech)
            return read_words(recognizer, words, context)
        monkeypatch.setattr(recognizer, "text", text)
        turns = []
        for c in _chunks(utterance_pcm, 4800):
            pipe.on_audio(state, c)
            turns += pipe.step(state)
        assert [t.text for t in turns] == ["I passed my exam today"]
        assert open_at_decode == [early] and voice_read == [early], (open_at_decode, voice_read)
        assert words_read == [early]                                      # the words' emotion, in context
        assert state.speech["audio"][1].logp.shape == (7,)              # the voice reading is the turn's


def test_a_branch_that_keeps_disagreeing_loses_weight():
    from streaming.live.reliability import agreement, gate_offsets
    from agf_core.labels import EMOTIONS

    def row(t, face, voice):
        r = {"t": t}
        for m, top in (("video", face), ("audio", voice)):
            r.update({f"{m}_{e}": (0.9 if e == top else 0.1 / 6) for e in EMOTIONS})
        return r
    rows = [row(t, "anger", "joy") for t in range(10)]            # the face reads anger at rest, always
    shares = agreement(rows, now=10.0)
    assert shares["video"] == (0.0, 10) and shares["audio"] == (0.0, 10)
    assert gate_offsets(rows, now=10.0) == {"video": -2.0, "audio": -2.0}
    assert gate_offsets(rows[:5], now=10.0) == {}                 # too few moments to judge
    assert gate_offsets(rows, now=100.0) == {}                     # older than a minute
    agreeing = [row(t, "joy", "joy") for t in range(10)]
    assert gate_offsets(agreeing, now=10.0) == {}


def test_reliability_offsets_lower_that_branchs_weight(recognizer, speech, face_photo):
    pred = recognizer.predict(audio=speech, frames=[face_photo])
    lowered = recognizer.combine(pred.outputs, pred.metadata, reliability={"video": -2.0})
    assert lowered.weights["video"] < pred.weights["video"]


@pytest.mark.parametrize("typed", ["\u200b\u200b", "\x00\x00", " \u2060\ufeff\n\u200e", "\u200d"])
def test_typed_text_with_nothing_visible_is_refused_and_stores_nothing(recognizer, typed):
    """Issue 22.8: zero-width or NUL text was accepted, stored as a turn with a reply, and its failed word
    reading made the next two messages unreadable (as the context of their word reading)."""
    from streaming.live.capture import CaptureRoutes
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    capture = CaptureRoutes(pipe)
    state = pipe.new_state()
    state.session.consent = True
    token = capture.register(state)
    with pytest.raises(ValueError, match="no visible characters .* is not accepted; type some words"):
        capture.say(token, typed)
    assert pipe.on_text(state, typed) is None and not state.session.transcript and not state.session.timeline
    capture.say(token, "I'm\u200b so\x00 happy, we won!")                 # the invisible parts are dropped
    assert state.session.transcript[-1]["text"] == "I'm so happy, we won!"
    assert state.session.transcript[-1]["emotion"] == "joy"


def test_a_turn_the_text_model_could_not_read_does_not_spoil_the_next_ones(recognizer):
    """Issue 22.8: a turn stored with unreadable text (as before the check) was context for the next two turns'
    word reading, which then failed too."""
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    state = pipe.new_state()
    state.session.add_turn("\x00\x00", "typed", None, "Go on.", "fallback")
    for text in ("We won the championship!", "This is the best day of my life!"):
        turn = pipe.on_text(state, text)
        assert turn.prediction.label == "joy" and state.status["text"].state == "ok", text


def test_turns_carry_valence_arousal_and_a_sustained_low_adds_one_suggestion(recognizer):
    from streaming.dialogue.suggestions import Suggester, SuggestionOptions, load_bank
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    pipe.suggester = Suggester(options=SuggestionOptions(low_for_s=5.0))   # typed turns: a few words are seconds
    state = pipe.new_state()
    sad = ["I lost my job and I don't know what to do now.",
           "I feel awful, nothing is going right and I'm so tired of it.",
           "I am so sad and lonely, nothing is going right and I can't stop crying about it all."]
    turns = [pipe.on_text(state, t) for t in sad]
    row = state.session.timeline[-1]
    assert row["valence"] == pytest.approx(turns[-1].prediction.valence, abs=1e-4) and row["valence"] < 0
    assert row["text_valence"] == row["valence"] and "audio_valence" not in row
    bank = [s for v in load_bank().values() for s in v]
    given = [r for r in state.session.replies if r.get("suggestion")]
    assert len(given) == 1 and given[0]["suggestion"] == "low_valence"
    assert any(given[0]["text"].endswith(s) for s in bank) and given[0]["turn"] > 1     # never the first turn
    pipe.on_text(state, "Actually I'm so happy, my sister just called with great news!")
    assert len([r for r in state.session.replies if r.get("suggestion")]) == 1


def test_no_suggestions_option_turns_them_off(recognizer):
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply(), PipelineOptions(suggestions=False))
    assert pipe.suggester is None
    state = pipe.new_state()
    for _ in range(4):
        pipe.on_text(state, "I am so sad and lonely, nothing is going right and I can't stop crying about it all.")
    assert not any(r.get("suggestion") for r in state.session.replies)
