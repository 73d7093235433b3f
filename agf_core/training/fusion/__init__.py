"""The fusion study: cached branch outputs and test beds (pools), corruptions, the training recipe, the optional
fine-tuning phase and the report."""
