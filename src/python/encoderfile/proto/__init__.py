"""Generated protobuf modules (committed); regenerate with proto/generate.py, never edit by hand."""
