"""Entry point of every encoderfile: parse the CLI, find our own file, run the command.

Commands: `infer`, `info`, plus `serve` and `mcp` registered by `encoderfile.runtime.serve_cli`
and `encoderfile.runtime.mcp_cli` when present. Convention for a command module:
`register(subparsers)` adds a parser, calls `add_inference_arguments(parser)` if it runs the
model, and sets `parser.set_defaults(run=fn)` where `fn(args) -> int`. Before `fn` runs,
`args.encoderfile` holds the absolute path of the running encoderfile; `load_service(args)`
loads it. Raise RuntimeInputError/ModelLoadError/OSError (or any exception) for failures: main
prints one line on stderr and exits non-zero (a traceback only with --debug).

Imports stay lazy so `--help` does not pay for onnxruntime.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from encoderfile.runtime.batching import BatchingConfig
    from encoderfile.runtime.service import InferenceService

COMMAND_MODULES = ("encoderfile.runtime.serve_cli", "encoderfile.runtime.mcp_cli")


def load_service(args: argparse.Namespace, *, batching: BatchingConfig | None = None) -> Any:
    """Load the running encoderfile with the inference flags of `args`."""
    from encoderfile.runtime.options import InferenceOptions
    from encoderfile.runtime.service import InferenceService

    return InferenceService.from_encoderfile(
        args.encoderfile, InferenceOptions.from_args(args), batching=batching
    )


def _write_output(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _run_infer(args: argparse.Namespace) -> int:
    import json

    from encoderfile.runtime.options import PredictOptions

    options = PredictOptions.from_request(
        {"normalize": args.normalize, "softmax": args.softmax, "aggregation": args.aggregation}
    )
    service: InferenceService = load_service(args)
    try:
        results = service.predict_sync(list(args.inputs), options)
        body = {"results": results, "model_id": service.model_id}
    finally:
        service.close()
    _write_output(json.dumps(body, indent=2, ensure_ascii=False), args.output)
    return 0


def describe(path: Any) -> dict[str, Any]:
    """What `encoderfile inspect` shows, read from the file without loading the model."""
    import json

    from encoderfile.format import ArtifactKind, EncoderfileReader

    with EncoderfileReader.open(path) as r:
        info: dict[str, Any] = {
            "path": str(path),
            "name": r.name,
            "version": r.version,
            "model_type": r.model_type.snake,
            "format_version": r.footer.format_version,
            "file_size": r.file_size,
            "base_size": r.base_size,
            "manifest_length": r.footer.metadata_length,
            "artifacts": [
                {
                    "kind": kind.field_name,
                    "offset": a.offset,
                    "length": a.length,
                    "sha256": a.sha256_hex,
                }
                for kind, a in r.artifacts.items()
            ],
        }
        if r.has(ArtifactKind.MODEL_CONFIG):
            try:
                config = json.loads(r.read_bytes(ArtifactKind.MODEL_CONFIG))
                info["id2label"] = config.get("id2label") if isinstance(config, dict) else None
            except ValueError:
                info["id2label"] = None
        if r.has(ArtifactKind.TRANSFORM):
            from encoderfile.proto import manifest_pb2

            msg = manifest_pb2.Transform()
            msg.ParseFromString(r.read_bytes(ArtifactKind.TRANSFORM))
            info["transform"] = {
                "type": "lua",
                "lua_libs": list(msg.lua_libs.libs) if msg.HasField("lua_libs") else None,
                "source": msg.transform,
            }
    return info


def _run_info(args: argparse.Namespace) -> int:
    import json

    info = describe(args.encoderfile)
    if args.json:
        _write_output(json.dumps(info, indent=2), None)
        return 0
    lines = [
        f"{info['name']} {info['version']} ({info['model_type']})",
        f"  file: {info['path']} ({info['file_size']:,} bytes, runtime {info['base_size']:,})",
        f"  format: v{info['format_version']}, manifest {info['manifest_length']} bytes",
    ]
    for a in info["artifacts"]:
        lines.append(f"  {a['kind']:<18} {a['length']:>12,} bytes  sha256 {a['sha256']}")
    if info.get("id2label"):
        labels = ", ".join(f"{k}={v}" for k, v in info["id2label"].items())
        lines.append(f"  labels: {labels}")
    if "transform" in info:
        lines.append(f"  transform: lua, libs {info['transform']['lua_libs'] or 'default'}")
    _write_output("\n".join(lines), None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from encoderfile.runtime.options import AGGREGATIONS, add_inference_arguments

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="use this encoderfile instead of the running one (development)",
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    parser = argparse.ArgumentParser(
        prog="encoderfile",
        description="A single-file encoder model: run inference, serve it, inspect it.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    infer = sub.add_parser("infer", parents=[common], help="run the model on texts, print JSON")
    infer.add_argument("inputs", nargs="+", metavar="INPUT", help="texts to run")
    infer.add_argument("-f", "--format", choices=("json",), default="json", help="output format")
    infer.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    infer.add_argument(
        "--normalize", action="store_true", default=None, help="L2-normalise embeddings"
    )
    infer.add_argument(
        "--softmax", action="store_true", default=None, help="scores = softmax(logits)"
    )
    infer.add_argument(
        "--aggregation", choices=AGGREGATIONS, help="group token labels into entities"
    )
    add_inference_arguments(infer)
    infer.set_defaults(run=_run_infer)

    info = sub.add_parser("info", parents=[common], help="describe this encoderfile")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(run=_run_info)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that transport is not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the encoderfile CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        from encoderfile.runtime.locate import locate_self

        args.encoderfile = locate_self(getattr(args, "file", None))
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every failure: one clear line, no traceback
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and exc.strerror:
            message = f"{exc.strerror}: {exc.filename}"
        print(f"error: {message}", file=sys.stderr)
        return 1


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
