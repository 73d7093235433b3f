"""What the models take, made from raw inputs: audio signal functions, face detection and crops, the speaker
metadata vocabulary. Pure functions and small detectors; no trained weights except the face detector's."""
