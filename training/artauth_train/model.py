"""Model construction, BatchNorm folding and float16 weight storage."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.nn.utils.fusion import fuse_conv_bn_eval

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


class Tiny(nn.Module):
    """A few convolutions and the published head; for fast pipeline tests only."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Dropout(0.3), nn.Linear(16, 1))

    def forward(self, x):
        return self.fc(self.features(x))


def load_pretrained(model, path, log=print):
    """Loads operator-supplied ImageNet weights (a torchvision state dict, possibly wrapped in
    {"state_dict": ...} or {"model": ...}, possibly with "module." prefixes) into every layer
    but the classifier. Nothing is downloaded."""
    sd = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise ValueError(f"--pretrained {path}: not a state dict (got {type(sd).__name__})")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:  # same names, other shapes
        raise ValueError(f"--pretrained {path} does not fit the architecture: {e}") from e
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"--pretrained {path} does not fit the architecture: "
                         f"missing {missing[:5]}..., unexpected {unexpected[:5]}...")
    log(f"model: loaded {len(sd)} pretrained tensors from {path} (classifier left new)")


def build(arch, pretrained=None, log=print):
    """torchvision ResNet with the published head, Dropout(0.3) then Linear(features, 1), or
    the tiny CNN. Without --pretrained the network is trained from scratch; residual branches
    then start at zero (zero_init_residual), which trains better from scratch."""
    if arch == "tiny":
        if pretrained:
            raise ValueError("--pretrained is for torchvision ResNets, not --arch tiny")
        return Tiny()
    if arch not in RESNETS:
        raise ValueError(f"unknown --arch {arch!r}: want one of tiny, {', '.join(RESNETS)}")
    model = getattr(torchvision.models, arch)(weights=None, zero_init_residual=not pretrained)
    if pretrained:
        load_pretrained(model, pretrained, log)
    model.fc = nn.Sequential(nn.Dropout(0.3), nn.Linear(model.fc.in_features, 1))
    return model


def fuse_batchnorm(model):
    """Folds every BatchNorm of a torchvision ResNet into the convolution before it (eval
    mode), in place. The exported graph then holds exactly these folded weights, so rounding
    them (round_weights_fp16) in PyTorch gives the very values ONNX Runtime will use."""
    model.eval()
    if not isinstance(model, torchvision.models.ResNet):
        return model
    model.conv1 = fuse_conv_bn_eval(model.conv1, model.bn1)
    model.bn1 = nn.Identity()
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in layer:
            for i in (1, 2, 3):
                if hasattr(block, f"conv{i}"):
                    setattr(block, f"conv{i}", fuse_conv_bn_eval(getattr(block, f"conv{i}"),
                                                                 getattr(block, f"bn{i}")))
                    setattr(block, f"bn{i}", nn.Identity())
            if block.downsample is not None:
                ds = block.downsample
                block.downsample = nn.Sequential(fuse_conv_bn_eval(ds[0], ds[1]))
    return model


def weight_modules(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@torch.no_grad()
def round_weights_fp16(model):
    """Rounds every convolution and linear weight to the nearest float16 value (biases stay
    float32). Returns the largest absolute change."""
    worst = 0.0
    for _, m in weight_modules(model):
        r = m.weight.half().float()
        worst = max(worst, (r - m.weight).abs().max().item())
        m.weight.copy_(r)
    return worst


class HalfConv2d(nn.Module):
    """A convolution whose weight is stored as float16 and cast to float32 when used: exported
    as a float16 initializer followed by Cast, which ONNX Runtime folds once at load."""

    def __init__(self, conv):
        super().__init__()
        self.register_buffer("weight", conv.weight.detach().half())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().float())
        self.stride, self.padding = conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups

    def forward(self, x):
        return F.conv2d(x, self.weight.float(), self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class HalfLinear(nn.Module):
    """Linear counterpart of HalfConv2d."""

    def __init__(self, lin):
        super().__init__()
        self.register_buffer("weight", lin.weight.detach().half())
        self.register_buffer("bias", None if lin.bias is None else lin.bias.detach().float())

    def forward(self, x):
        return F.linear(x, self.weight.float(), self.bias)


def half_storage(model):
    """Replaces convolutions and linear layers by their float16-storage versions, in place.
    The weights must already be float16 values (round_weights_fp16): the check below makes a
    lossy conversion an error rather than a silent difference from the golden vectors."""
    for name, m in weight_modules(model):
        if not torch.equal(m.weight.half().float(), m.weight):
            raise ValueError(f"{name}: weights are not float16 values; round them first")
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        child = name.rsplit(".", 1)[-1]
        setattr(parent, child, HalfConv2d(m) if isinstance(m, nn.Conv2d) else HalfLinear(m))
    return model


class Serving(nn.Module):
    """What is exported: the network, its logit divided by the calibration temperature, so
    that sigmoid(output) is the calibrated probability and serving needs no change."""

    def __init__(self, net, temperature=1.0):
        super().__init__()
        self.net = net
        self.temperature = float(temperature)

    def forward(self, x):
        z = self.net(x)
        if self.temperature != 1.0:
            z = z / self.temperature
        return z
