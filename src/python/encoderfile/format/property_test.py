"""Property tests: random artifact sets round-trip; damaged files only raise EncoderfileError."""

from __future__ import annotations

import io
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encoderfile.format import (
    ArtifactKind,
    EncoderfileError,
    EncoderfileReader,
    ModelType,
    write_encoderfile,
)
from encoderfile.format.testing import GOLDEN, make_zip

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

artifact_sets = st.dictionaries(
    st.sampled_from(list(ArtifactKind)), st.binary(max_size=300), min_size=0, max_size=5
)
bases = st.one_of(
    st.just(b""), st.binary(max_size=200), st.builds(make_zip, st.binary(max_size=40))
)


@settings(SETTINGS, max_examples=30)  # each example writes (and fsyncs) a file
@given(
    artifacts=artifact_sets,
    base=bases,
    model_type=st.sampled_from(list(ModelType)),
    name=st.text(max_size=30),
    version=st.text(max_size=10),
    as_paths=st.booleans(),
)
def test_random_artifact_sets_round_trip(
    artifacts, base, model_type, name, version, as_paths
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for kind, data in artifacts.items():
            if as_paths:
                path = os.path.join(tmp, kind.filename)
                with open(path, "wb") as f:
                    f.write(data)
                sources[kind] = path
            else:
                sources[kind] = data
        out = os.path.join(tmp, "out.encoderfile")
        result = write_encoderfile(
            out,
            base=base,
            model_type=model_type,
            name=name,
            version=version,
            artifacts=sources,
            require_artifacts=False,
        )
        assert os.path.getsize(out) == result.size
        with EncoderfileReader.open(out) as r:
            assert (r.name, r.version, r.model_type) == (name, version, model_type)
            assert list(r.artifacts) == sorted(artifacts)
            assert r.artifacts == result.artifacts
            for kind, data in artifacts.items():
                assert r.read_bytes(kind) == data
                assert bytes(r.view(kind)) == data
                with r.open_stream(kind) as stream:
                    assert stream.read() == data
            assert r.verify_all() == []
            sink = io.BytesIO()
            r.copy_base_to(sink)
            assert sink.getvalue() == base + b"\0" * result.padding


def exercise(data: bytes) -> None:
    """Everything a consumer might do with a file; must fail only with EncoderfileError."""
    try:
        with EncoderfileReader.open(io.BytesIO(data), max_manifest_size=4096) as r:
            _ = (r.name, r.version, r.base_size, r.file_size)
            for kind in list(r.artifacts):
                r.read_bytes(kind)
                bytes(r.view(kind))
                with r.open_stream(kind) as stream:
                    stream.read()
            r.verify_all()
            r.copy_base_to(io.BytesIO())
            _ = r.model_type
            r.require_artifacts()
    except EncoderfileError:
        pass


@SETTINGS
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(GOLDEN) - 1), st.integers(0, 255)), min_size=1, max_size=8
    )
)
def test_random_byte_corruptions(flips) -> None:
    data = bytearray(GOLDEN)
    for position, value in flips:
        data[position] = value
    exercise(bytes(data))


@SETTINGS
@given(
    cut_start=st.integers(0, len(GOLDEN)),
    cut_length=st.integers(0, len(GOLDEN)),
    prefix=st.binary(max_size=50),
    suffix=st.binary(max_size=50),
)
def test_random_truncations_and_insertions(cut_start, cut_length, prefix, suffix) -> None:
    data = GOLDEN[:cut_start] + GOLDEN[cut_start + cut_length :]
    exercise(prefix + data)
    exercise(data[:cut_start])
    exercise(data + suffix)
    exercise(data[: len(data) - 32] + suffix + data[len(data) - 32 :])


@SETTINGS
@given(footer=st.binary(min_size=24, max_size=24), body=st.binary(max_size=300))
def test_random_footers(footer, body) -> None:
    exercise(body + b"ENCFILE\0" + footer)
