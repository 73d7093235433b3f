"""What a researcher keeps, and who may read it: the study store (SQLite or PostgreSQL), consent and provenance,
exports, the researcher view and its password lockout, retention, what touches disk and network (privacy), and
which browser owns which session (access). `study.Study` is what demo.py's handlers call; only the researcher view
and the access checks import Gradio."""
