"""What the participant reads: the words being said and the conversation so far.

The page gets both from `/agf/view` and `/agf/text` (streaming/live/capture.py, polled by assets/capture.html),
not through Gradio's queue, where an update waits behind the webcam stream for about half a second. Gradio
still renders the figures, the headline and the status. Everything the participant said or typed is escaped:
it is shown, never interpreted.
"""
from __future__ import annotations

from html import escape

from ..live.state import Listening, LiveState

NO_READING = "no reading"   # a turn none of whose modalities could be read (its `emotion` is None)


def conversation_html(transcript: list[dict], replies: list[dict]) -> str:
    """Each turn as the participant's words (with how they were given and the emotion read) and the reply."""
    turns = []
    for said, reply in zip(transcript, replies):
        turns.append(f'<div class="msg user" data-testid="user">{escape(said["text"])} '
                     f'<span class="meta">({escape(said["source"])}, {escape(said["emotion"] or NO_READING)})'
                     '</span></div>')
        turns.append(f'<div class="msg bot" data-testid="bot">{escape(reply["text"])}</div>')
    if not turns:
        turns.append('<div class="empty">Say something or type below; the replies appear here.</div>')
    # the outer box scrolls and stays at the newest turn (column-reverse anchors it at the bottom)
    return f'<div class="agf-conversation"><div class="turns">{"".join(turns)}</div></div>'


def live_words_html(listening: Listening) -> str:
    """What is being said right now: "listening…" from speech onset, then the words decoded so far; once the
    utterance has ended, "heard" and its final words until they are in the conversation."""
    if listening.since_s is None:
        inner = ""
    elif listening.final:
        inner = f"🎙️ <b>heard:</b> {escape(listening.partial)}"
    else:
        words = listening.partial
        inner = "🎙️ <b>listening…</b>" + (f" <i>{escape(words)}</i>" if words else "")
    return f'<div class="agf-words">{inner}</div>'


def words_key(state: LiveState) -> str:
    """Changes exactly when what `words_view` shows changes (call under `state.lock`)."""
    return f"{state.session.session_id}:{state.session.counts['turns']}:{state.listening.since_s}:" \
           f"{hash(state.listening.partial)}:{state.listening.final}"


def words_view(state: LiveState) -> dict:
    """The live words and the conversation, with the key the page sends back to ask "anything new?"."""
    with state.lock:
        return {"key": words_key(state),
                "words": live_words_html(state.listening),
                "conversation": conversation_html(state.session.transcript, state.session.replies)}
