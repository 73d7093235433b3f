"""The conversation as the page shows it: one HTML renderer, used by the page's timer and by the typed-text
route (streaming/capture.py), so a typed message and its reply appear the moment the server has answered."""
from __future__ import annotations

from html import escape


def conversation_html(transcript: list[dict], replies: list[dict]) -> str:
    """Each turn as the participant's words (with how they were given and the emotion read) and the reply.
    Everything the participant typed or said is escaped: it is shown, never interpreted."""
    turns = []
    for said, reply in zip(transcript, replies):
        turns.append(f'<div class="msg user" data-testid="user">{escape(said["text"])} '
                     f'<span class="meta">({escape(said["source"])}, {escape(said["emotion"])})</span></div>')
        turns.append(f'<div class="msg bot" data-testid="bot">{escape(reply["text"])}</div>')
    if not turns:
        turns.append('<div class="empty">Say something or type below; the replies appear here.</div>')
    # the outer box scrolls and stays at the newest turn (column-reverse anchors it at the bottom)
    return f'<div class="agf-conversation"><div class="turns">{"".join(turns)}</div></div>'
