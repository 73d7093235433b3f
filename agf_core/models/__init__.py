"""nn.Modules only: the text, audio and face encoders, the classifier head, the metadata encoder, and the fusion
with its variants. Each has a dataclass config whose defaults run on CPU."""
