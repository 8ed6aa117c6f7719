"""Search backends: image classification (and stereo matching)."""
