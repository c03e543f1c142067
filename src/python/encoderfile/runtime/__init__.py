"""What runs inside every encoderfile: model loading, inference, transforms and the CLI."""
