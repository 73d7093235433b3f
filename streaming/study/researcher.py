"""The researcher view: behind a password (streaming.study.lockout: a client that fails too often is locked out for a
while), the sessions of a study with their state, counts and durations;
download of one or all of them (JSON, CSV, Parquet; raw media for opted-in sessions); delete.

    page = build_researcher_view(store, password)          # a gr.Blocks: launch it, mount it, or
    with demo.route("Researcher", "/researcher"): page.render()

Unlocking binds the view to the browser's owner cookie (streaming.study.access): another client with this tab's
session hash gets nothing, and downloads are one-time links for this browser only.
"""
from __future__ import annotations

import logging
import secrets

import gradio as gr

from .access import ExportDesk, owner_of
from .export import FORMATS, export_media, export_sessions
from .lockout import LockoutOptions, LoginRefused, PasswordGate, client_of
from .store import StudyStore

log = logging.getLogger(__name__)
COLUMNS = ["session_id", "study", "condition", "participant_id", "state", "started", "ended", "duration_s",
           "timeline", "utterances", "replies", "corrections", "media", "keep_raw", "consent_version"]
PRIVATE = {"api_visibility": "private"}
# Run in the page after an action succeeds: the error toasts of the tries before it go (Gradio keeps them ~10 s,
# so "Wrong password" covered the unlocked view and "Please tick the consent box" the started session).
DISMISS_TOASTS = "() => document.querySelectorAll('[data-testid=\"toast-close\"]').forEach((b) => b.click())"


def session_table(store: StudyStore, study: str | None = None) -> list[list]:
    rows = []
    for s in store.sessions(study or None):
        c = s["counts"]
        rows.append([s["session_id"], s["study"], s["condition"], s["participant_id"], s["state"], s["started"],
                     s["ended"] or "", s["duration_s"], c["timeline"], c["utterances"], c["replies"],
                     c["corrections"], c["media"], s["consent"]["keep_raw"], s["consent"]["version"]])
    return rows


def build_researcher_view(store: StudyStore, password: str, desk: ExportDesk | None = None,
                          lockout: LockoutOptions = LockoutOptions()) -> gr.Blocks:
    gate = PasswordGate(password, lockout)  # raises for an empty password
    desk = desk or ExportDesk()

    def _check(unlocked_by: str, request: gr.Request):
        owner = owner_of(request)
        if not unlocked_by or not owner or not secrets.compare_digest(unlocked_by, owner):
            raise gr.Error("Unlock the researcher view with its password first.", print_exception=False)

    def unlock(given: str, request: gr.Request):
        owner = owner_of(request)
        if not owner:
            raise gr.Error("This page needs its cookie: allow cookies and reload.", print_exception=False)
        try:
            gate.check(given, client_of(request))  # constant time; locks a client out after repeated failures
        except LoginRefused as e:
            raise gr.Error(str(e), print_exception=False) from None
        studies = store.studies()
        return (owner, gr.update(visible=True), "", gr.update(choices=[""] + studies, value=""),
                *refresh(owner, "", request))

    def refresh(unlocked_by: str, study: str, request: gr.Request):
        _check(unlocked_by, request)
        table = session_table(store, study)
        ids = [r[0] for r in table]
        return table, gr.update(choices=ids, value=[]), f"{len(ids)} session(s)"

    def download(unlocked_by: str, study: str, chosen: list[str], formats: list[str], media: bool,
                 request: gr.Request, all_sessions: bool = False):
        _check(unlocked_by, request)
        ids = [r[0] for r in session_table(store, study)] if all_sessions else list(chosen or [])
        if not ids:
            raise gr.Error("Pick at least one session (or use Download all).", print_exception=False)
        if not formats:
            raise gr.Error(f"Pick at least one format: {', '.join(FORMATS)}.", print_exception=False)
        folder = desk.folder(f"researcher-{secrets.token_hex(4)}")
        stem = f"{study or 'all'}_{len(ids)}_sessions" if len(ids) > 1 else f"session_{ids[0]}"
        paths = export_sessions(store, ids, folder, formats, stem=stem)
        if media:
            for sid in ids:
                paths += export_media(store, sid, folder)
        return links([(p.name, desk.offer(owner_of(request), p)) for p in paths])

    def delete(unlocked_by: str, study: str, chosen: list[str], confirm: bool, request: gr.Request):
        _check(unlocked_by, request)
        if not chosen:
            raise gr.Error("Pick the session(s) to delete.", print_exception=False)
        if not confirm:
            raise gr.Error("Tick 'I mean it' to delete.", print_exception=False)
        n = sum(store.withdraw(sid) for sid in chosen)
        log.info("researcher deleted %d session(s) (%d rows)", len(chosen), n)
        return (*refresh(unlocked_by, study, request)[:2], f"Deleted {len(chosen)} session(s), {n} rows.",
                False)

    with gr.Blocks(title="AGF researcher view", analytics_enabled=False) as view:
        unlocked = gr.State("")
        gr.Markdown("# Researcher view\nSessions in the study store. Downloads are one-time links for this "
                    "browser and expire after a few minutes.")
        with gr.Row():
            given = gr.Textbox(label="Researcher password", type="password", max_lines=1, elem_id="admin-password")
            unlock_btn = gr.Button("Unlock", variant="primary")
        with gr.Column(visible=False, elem_id="researcher") as panel:
            with gr.Row():
                study = gr.Dropdown([""], value="", label="Study ('' = all)", allow_custom_value=True)
                refresh_btn = gr.Button("Refresh")
                summary = gr.Markdown()
            table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="sessions")
            chosen = gr.Dropdown([], multiselect=True, label="Sessions")
            with gr.Row():
                formats = gr.CheckboxGroup(list(FORMATS), value=list(FORMATS), label="Formats")
                media = gr.Checkbox(label="Include raw media (opted-in sessions only)", value=False)
                one = gr.Button("Download selected")
                every = gr.Button("Download all (this study)")
            files = gr.HTML(elem_id="researcher-files")
            with gr.Row():
                confirm = gr.Checkbox(label="I mean it", value=False)
                delete_btn = gr.Button("Delete selected", variant="stop")
                deleted = gr.Markdown()
        unlock_btn.click(unlock, [given], [unlocked, panel, given, study, table, chosen, summary],
                         **PRIVATE).success(None, js=DISMISS_TOASTS)
        refresh_btn.click(refresh, [unlocked, study], [table, chosen, summary], **PRIVATE)
        study.change(refresh, [unlocked, study], [table, chosen, summary], **PRIVATE)
        one.click(download, [unlocked, study, chosen, formats, media], [files], **PRIVATE)
        def download_all(unlocked_by, study_id, chosen_ids, fmts, with_media, request: gr.Request):
            return download(unlocked_by, study_id, chosen_ids, fmts, with_media, request, all_sessions=True)
        every.click(download_all, [unlocked, study, chosen, formats, media], [files], **PRIVATE)
        delete_btn.click(delete, [unlocked, study, chosen, confirm], [table, chosen, deleted, confirm], **PRIVATE)
    return view


def links(items: list[tuple[str, str]]) -> str:
    """HTML download links for (file name, relative URL) pairs."""
    from html import escape
    return "<ul>" + "".join(f'<li><a href="{escape(url)}" download="{escape(name)}">{escape(name)}</a></li>'
                            for name, url in items) + "</ul>"
