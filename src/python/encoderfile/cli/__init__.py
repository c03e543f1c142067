"""The low-level `encoderfile` command (argparse); entry point: encoderfile.cli.main:main."""
