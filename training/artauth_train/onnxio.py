"""ONNX export with a dynamic batch axis and metadata_props inside the file.

metadata_props are written by appending ModelProto field 14 entries to the serialized model:
protobuf parsers concatenate repeated fields wherever they appear, so this needs no onnx
package (Debian's python3-onnx is optional). ONNX Runtime reads them back as the model's
custom metadata map (internal/eval checks them against model.json).
"""
import torch


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def metadata_bytes(props):
    """ModelProto.metadata_props (field 14) entries, StringStringEntryProto{key=1, value=2},
    sorted by key so that the file is reproducible."""
    out = b""
    for key in sorted(props):
        entry = _field(1, key.encode()) + _field(2, str(props[key]).encode())
        out += _field(14, entry)
    return out


def export(serving, size, path, opset, props, fp16):
    """Exports serving (eval mode, on the CPU) to path with input "image" [N, 3, size, size]
    and output "logit" [N, 1], N dynamic, then appends props as metadata_props.

    With fp16 storage, constant folding stays off so that the float16 initializers and their
    Cast nodes survive (BatchNorm is already folded in PyTorch, so nothing else needs it)."""
    serving = serving.eval().cpu()
    dummy = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        serving, dummy, path, opset_version=opset,
        input_names=["image"], output_names=["logit"],
        dynamic_axes={"image": {0: "batch"}, "logit": {0: "batch"}},
        do_constant_folding=not fp16,
    )
    with open(path, "ab") as f:
        f.write(metadata_bytes(props))


def check_with_onnx(path, props):
    """When python3-onnx is installed, checks the graph and reads the metadata back."""
    try:
        import onnx
    except ImportError:
        return "onnx package not installed: skipped"
    m = onnx.load(path)
    onnx.checker.check_model(m)
    got = {p.key: p.value for p in m.metadata_props}
    for k, v in props.items():
        if got.get(k) != str(v):
            raise ValueError(f"{path}: metadata_props[{k!r}] reads back as {got.get(k)!r}")
    return f"onnx {onnx.__version__} checker passed, {len(got)} metadata_props read back"
