"""What happens while a person talks: capture routes and buffers, voice activity and utterances, the face window,
the per-session worker and pipeline, session state, display smoothing, live reliability and the charts.
Entry points: `pipeline.LivePipeline` (models and options every session shares) and `state.LiveState` (one
participant's session); `capture` mounts the page's side channel, `local` runs the same loop without a browser."""
