"""The live path: webcam frames and microphone chunks in, fused emotion updates out. Usable without Gradio."""
