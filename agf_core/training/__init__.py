"""Everything that needs labelled data: readers, feature caches, the training loop, losses, metrics, the
per-branch recipes, the fusion study, and the train / evaluate CLIs. The runtime never imports this package."""
