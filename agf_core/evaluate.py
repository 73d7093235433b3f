"""`python -m agf_core.evaluate`: the CLI lives in agf_core/training/evaluate.py (training is apart from the runtime)."""
from agf_core.training.evaluate import main

if __name__ == "__main__":
    main()
