"""`encoderfile pack`: assemble an encoderfile from already-final artifacts."""

from __future__ import annotations

import argparse

from encoderfile.format import ArtifactKind, ModelType, write_encoderfile

HELP = "assemble an encoderfile from a base binary and already-final artifact files"
DESCRIPTION = f"""{HELP}.

No conversion happens here: each file is embedded byte for byte (use `encoderfile build` to
derive artifacts from a model directory). Required artifacts: weights, model config and
tokenizer for text models; weights, model config and image preprocessor for
image_classification. An empty --base file gives a payload-only file.

Example:
  encoderfile pack --base runtime.pex --weights model.onnx --model-config config.json \\
      --tokenizer tokenizer.json --model-type embedding --name my-model -o my-model.encoderfile
"""

ARTIFACT_OPTIONS = {
    "weights": ArtifactKind.WEIGHTS,
    "model_config": ArtifactKind.MODEL_CONFIG,
    "tokenizer": ArtifactKind.TOKENIZER,
    "transform": ArtifactKind.TRANSFORM,
    "image_preprocessor": ArtifactKind.IMAGE_PREPROCESSOR,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pack",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base", required=True, metavar="FILE", help="base executable (may be empty)")
    p.add_argument("--weights", metavar="FILE", help="ONNX model (model.onnx)")
    p.add_argument("--model-config", metavar="FILE", help="model config JSON artifact")
    p.add_argument("--tokenizer", metavar="FILE", help="tokenizer JSON artifact (text models)")
    p.add_argument("--transform", metavar="FILE", help="protobuf Transform artifact (optional)")
    p.add_argument(
        "--image-preprocessor", metavar="FILE", help="image preprocessor JSON (image models)"
    )
    p.add_argument(
        "--model-type",
        required=True,
        choices=[m.snake for m in ModelType],
        help="what the model computes",
    )
    p.add_argument("--name", required=True, help="model name recorded in the manifest")
    p.add_argument("--version", default="0.1.0", help="model version (default: %(default)s)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    artifacts = {
        kind: getattr(args, option)
        for option, kind in ARTIFACT_OPTIONS.items()
        if getattr(args, option) is not None
    }
    result = write_encoderfile(
        args.output,
        base=args.base,
        model_type=args.model_type,
        name=args.name,
        version=args.version,
        artifacts=artifacts,
    )
    layout = "zip trailer relocated" if result.zip_relocated else "appended"
    print(
        f"wrote {args.output} ({result.size} bytes, {len(result.artifacts)} artifacts, {layout},"
        f" sha256 {result.sha256})"
    )
    return 0
