"""`python -m agf_core.train`: the CLI lives in agf_core/training/train.py (training is apart from the runtime)."""
from agf_core.training.train import main

if __name__ == "__main__":
    main()
