"""Test fixtures of the format: the golden example bytes and a tiny zip. Imported by tests only."""

from __future__ import annotations

import io
import zipfile

from encoderfile.format.constants import ArtifactKind

# The golden example of format-v1.md, written out byte by byte from its description (not from
# our writer): manifest fields in ascending field number, each Artifact body 52 bytes.
GOLDEN_HEX = (
    # manifest, 186 bytes
    "0801"  # 1: model_type = EMBEDDING (varint 1)
    "120a"
    "746573742d6d6f64656c"  # 2: name = "test-model"
    "1a05"
    "302e312e30"  # 3: version = "0.1.0"
    "a20634"  # 100: weights, 52 bytes
    "09"
    "ba00000000000000"  # offset 186
    "11"
    "0700000000000000"  # length 7
    "1a20"
    "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c"  # sha256("weights")
    "c20734"  # 120: model_config, 52 bytes
    "09"
    "c100000000000000"  # offset 193
    "11"
    "0600000000000000"  # length 6
    "1a20"
    "b79606fb3afea5bd1609ed40b622142f1c98125abcfe89a76a661b0e8e343910"  # sha256("config")
    "920834"  # 130: tokenizer, 52 bytes
    "09"
    "c700000000000000"  # offset 199
    "11"
    "0900000000000000"  # length 9
    "1a20"
    "5f97e3774c51edd1d63706c2ec3826c564a067794770cdab0f8c4797971cacf9"  # sha256("tokenizer")
    # artifacts
    "77656967687473"  # "weights"
    "636f6e666967"  # "config"
    "746f6b656e697a6572"  # "tokenizer"
    # footer
    "454e4346494c4500"
    "01000000"
    "0000000000000000"
    "ba00000000000000"
    "01000000"
)
GOLDEN = bytes.fromhex(GOLDEN_HEX)
GOLDEN_ARTIFACTS = {
    ArtifactKind.WEIGHTS: b"weights",
    ArtifactKind.MODEL_CONFIG: b"config",
    ArtifactKind.TOKENIZER: b"tokenizer",
}


def make_zip(comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.txt", "hello")
        zf.comment = comment
    return buffer.getvalue()
