"""What the app says back: emotion-aware replies from an offline bank (`reply`), the cues the words carry
(`cues`: a stated feeling, sarcasm, questions, emoji) and the conversation the participant reads
(`conversation`)."""
