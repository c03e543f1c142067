"""A Pants backend that packages encoder models as single-file `encoderfile` executables."""
