"""`encoderfile runtime add|list|remove`: manage the base-binary (runtime) cache."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from encoderfile.cli.build import ProgressBar, add_cache_dir_argument, run_guarded


def register(subparsers: Any) -> None:
    """Add the `runtime` command group."""
    p = subparsers.add_parser(
        "runtime",
        help="manage cached runtime base binaries",
        description="Add, list and remove runtime base binaries in the cache "
        "(<cache_dir>/base-binaries/<version>/<target>/encoderfile-runtime).",
    )
    add_cache_dir_argument(p)
    sub = p.add_subparsers(dest="runtime_command", metavar="{add,list,remove}")
    sub.required = True

    a = sub.add_parser(
        "add",
        help="download or copy a runtime into the cache",
        description="Without --from, download from the URL template; a download must match a "
        "pinned SHA-256 (shipped, or --sha256). A local --from FILE is accepted as is, and "
        "checked when a digest is given or pinned.",
    )
    a.add_argument("target", help="target triple, e.g. x86_64-unknown-linux-gnu")
    a.add_argument("--from", dest="source", help="a local file or a URL (https://, file://)")
    a.add_argument("--sha256", help="expected SHA-256 (64 hex digits)")
    a.add_argument("--runtime-version", help="runtime version (default: this CLI's version)")
    a.add_argument("--runtime-url-template", help="URL with {version} and {target}")
    add_cache_dir_argument(a, suppress=True)
    a.set_defaults(func=lambda args: run_guarded(args, _run_add))

    ls = sub.add_parser("list", help="list cached runtimes (target, version, size, sha256)")
    add_cache_dir_argument(ls, suppress=True)
    ls.set_defaults(func=lambda args: run_guarded(args, _run_list))

    rm = sub.add_parser("remove", help="remove a cached runtime")
    rm.add_argument("target", help="target triple")
    rm.add_argument("--runtime-version", help="runtime version (default: this CLI's version)")
    add_cache_dir_argument(rm, suppress=True)
    rm.set_defaults(func=lambda args: run_guarded(args, _run_remove))


def _cache(args: argparse.Namespace) -> Any:
    from encoderfile.builder.base_binaries import RuntimeCache, default_cache_dir

    return RuntimeCache(args.cache_dir or default_cache_dir())


def _run_add(args: argparse.Namespace) -> int:
    from encoderfile.builder.base_binaries import (
        default_runtime_version,
        normalize_version,
        pinned_sha256,
        url_template_from_env,
    )
    from encoderfile.builder.config import check_sha256, check_url_template
    from encoderfile.builder.targets import parse_target

    target = parse_target(args.target)
    version = args.runtime_version or default_runtime_version()
    overrides = {target: check_sha256(args.sha256, "--sha256")} if args.sha256 else None
    expected = pinned_sha256(version, target, overrides)
    cache = _cache(args)
    bar = ProgressBar("runtime")
    try:
        if args.source and "://" not in args.source:
            r = cache.add_file(target, version, Path(args.source), expected, progress=bar)
        else:
            if args.source:
                url = args.source
            else:
                template = url_template_from_env(
                    check_url_template(args.runtime_url_template, "--runtime-url-template")
                    if args.runtime_url_template
                    else None
                )
                url = template.format(version=normalize_version(version), target=target)
            r = cache.download(target, version, url, expected, progress=bar)
    finally:
        bar.close()
    print(f"added {r.version}/{r.target}: {r.path} ({r.size} bytes, sha256 {r.sha256})")
    return 0


def _run_list(args: argparse.Namespace) -> int:
    cache = _cache(args)
    runtimes = cache.list()
    if not runtimes:
        print(f"no runtimes cached in {cache.root}")
        return 0
    rows = [("TARGET", "VERSION", "SIZE", "SHA256")] + [
        (r.target, r.version, str(r.size), r.sha256) for r in runtimes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3])
    return 0


def _run_remove(args: argparse.Namespace) -> int:
    from encoderfile.builder.base_binaries import default_runtime_version

    version = args.runtime_version or default_runtime_version()
    removed = _cache(args).remove(args.target, version)
    print(f"removed {removed}")
    return 0
