"""Tiny torch networks for the bundled shape models (detect, segment, semantic, classify).

All networks take ``images``: float32 ``(B, 3, H, W)`` RGB in 0..1. In training mode the
detector returns raw per-anchor predictions for the loss; in eval mode (used for ONNX export)
it returns the Ultralytics-compatible output layout with boxes decoded in the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torch import nn

NUM_MASK_COEFS = 32
"""Number of mask prototypes / coefficients (Ultralytics uses 32)."""


class ConvBN(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + SiLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.SiLU(inplace=True),
        )


class Residual(nn.Module):
    """Two 3x3 ConvBN layers with an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBN(channels, channels), ConvBN(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand, with an identity shortcut (cheap in parameters)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels // 2
        self.body = nn.Sequential(
            ConvBN(channels, hidden, 1), ConvBN(hidden, hidden), ConvBN(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _stage(c_in: int, c_out: int, bottleneck: bool = False) -> nn.Sequential:
    """A stride-2 ConvBN followed by one residual (or bottleneck) block."""
    block = Bottleneck(c_out) if bottleneck else Residual(c_out)
    return nn.Sequential(ConvBN(c_in, c_out, 3, 2), block)


class Backbone(nn.Module):
    """Plain residual backbone returning features at strides 4, 8, 16 and 32."""

    def __init__(self, widths: tuple[int, int, int, int, int] = (16, 32, 64, 96, 128)) -> None:
        super().__init__()
        self.stem = ConvBN(3, widths[0], 3, 2)
        self.s4 = _stage(widths[0], widths[1])
        self.s8 = _stage(widths[1], widths[2])
        self.s16 = _stage(widths[2], widths[3], bottleneck=True)
        self.s32 = _stage(widths[3], widths[4], bottleneck=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c4 = self.s4(self.stem(x))
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        return [c4, c8, c16, self.s32(c16)]


class FPN(nn.Module):
    """Top-down feature pyramid (nearest upsampling + add + 3x3 smoothing)."""

    def __init__(self, in_channels: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(ConvBN(c, channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(ConvBN(channels, channels) for _ in in_channels[:-1])

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = [self.lateral[-1](feats[-1])]
        for index in range(len(feats) - 2, -1, -1):
            top = nnf.interpolate(outs[0], scale_factor=2.0, mode="nearest")
            outs.insert(0, self.smooth[index](self.lateral[index](feats[index]) + top))
        return outs


def make_anchors(imgsz: int, strides: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor points ``(N, 2)`` (x, y cell centres in input pixels) and their strides ``(N,)``."""
    points, point_strides = [], []
    for stride in strides:
        cells = imgsz // stride
        coords = (torch.arange(cells, dtype=torch.float32) + 0.5) * stride
        ys, xs = torch.meshgrid(coords, coords, indexing="ij")
        points.append(torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1))
        point_strides.append(torch.full((cells * cells,), float(stride)))
    return torch.cat(points), torch.cat(point_strides)


class Proto(nn.Module):
    """Mask prototypes at stride 4 from the stride-8 pyramid level and the stride-4 features.

    ``aux`` is a training-only 1x1 semantic classifier on the prototype features (an auxiliary
    loss, as in YOLACT); it is not part of the exported graph.
    """

    def __init__(self, c_pyramid: int, c_skip: int, num_labels: int, hidden: int = 32) -> None:
        super().__init__()
        self.reduce = nn.Sequential(ConvBN(c_pyramid, hidden, 3), ConvBN(hidden, hidden, 3))
        self.skip = ConvBN(c_skip, hidden, 1)
        self.refine = ConvBN(hidden, hidden, 3)
        self.out = nn.Conv2d(hidden, NUM_MASK_COEFS, 1)
        self.aux = nn.Conv2d(hidden, num_labels, 1)

    def features(self, p8: torch.Tensor, c4: torch.Tensor) -> torch.Tensor:
        """Stride-4 prototype features."""
        up = nnf.interpolate(
            self.reduce(p8), scale_factor=2.0, mode="bilinear", align_corners=False
        )
        return self.refine(up + self.skip(c4))

    def forward(self, p8: torch.Tensor, c4: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(p8, c4))


@dataclass
class RawOutput:
    """Per-anchor training outputs of :class:`ShapeDetector`.

    ``distances`` ``(B, N, 4)`` ltrb in input pixels, ``logits`` ``(B, N, nc)``, and with masks
    ``coefs`` ``(B, N, 32)``, ``protos`` ``(B, 32, H/4, W/4)`` and the auxiliary semantic
    logits ``aux`` ``(B, 1 + nc, H/4, W/4)``.
    """

    distances: torch.Tensor
    logits: torch.Tensor
    coefs: torch.Tensor | None = None
    protos: torch.Tensor | None = None
    aux: torch.Tensor | None = None


class ShapeDetector(nn.Module):
    """Anchor-free (FCOS / YOLOv8-like) detector, optionally with YOLACT-style mask protos.

    :meth:`raw` returns a :class:`RawOutput` for the loss. ``forward`` (used for export) returns
    the Ultralytics layout: ``output0`` ``(B, 4 + nc [+ 32], N)`` with decoded ``cx, cy, w, h``
    boxes and sigmoid scores, and with masks also ``output1`` prototypes ``(B, 32, H/4, W/4)``.
    """

    def __init__(
        self,
        num_classes: int,
        imgsz: int,
        with_masks: bool = False,
        strides: tuple[int, ...] = (8, 16, 32),
        channels: int = 48,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.strides = strides
        widths = (16, 32, 64, 96, 128)
        self.backbone = Backbone(widths)
        self.fpn = FPN(widths[2:], channels)
        self.tower = nn.Sequential(ConvBN(channels, channels), ConvBN(channels, channels))
        self.pred = nn.Conv2d(channels, 4 + num_classes, 1)
        self.coef_head: nn.Module | None = None
        self.proto: Proto | None = None
        if with_masks:
            self.coef_head = nn.Sequential(
                ConvBN(channels, NUM_MASK_COEFS), nn.Conv2d(NUM_MASK_COEFS, NUM_MASK_COEFS, 1)
            )
            self.proto = Proto(channels, widths[1], num_classes + 1)
        anchors, anchor_strides = make_anchors(imgsz, strides)
        self.register_buffer("anchors", anchors, persistent=False)
        self.register_buffer("anchor_strides", anchor_strides, persistent=False)
        self._init_bias()

    def _init_bias(self) -> None:
        """Start with a low class prior (0.01) and ~1-stride box distances."""
        bias = self.pred.bias
        assert bias is not None
        with torch.no_grad():
            bias.zero_()
            bias[:4] = 0.5
            bias[4:] = -4.6

    def raw(self, images: torch.Tensor, with_aux: bool = True) -> RawOutput:
        """Per-anchor predictions (see :class:`RawOutput`)."""
        c4, c8, c16, c32 = self.backbone(images)
        levels = self.fpn([c8, c16, c32])
        preds = torch.cat([self.pred(self.tower(p)).flatten(2) for p in levels], dim=2)
        preds = preds.transpose(1, 2)  # (B, N, C)
        out = RawOutput(nnf.softplus(preds[..., :4]) * self.anchor_strides[:, None], preds[..., 4:])
        if self.proto is not None and self.coef_head is not None:
            coefs = torch.cat([self.coef_head(p).flatten(2) for p in levels], dim=2)
            out.coefs = coefs.transpose(1, 2)
            features = self.proto.features(levels[0], c4)
            out.protos = self.proto.out(features)
            out.aux = self.proto.aux(features) if with_aux else None
        return out

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out = self.raw(images, with_aux=False)
        boxes = distances_to_xywh(self.anchors, out.distances)
        parts = [boxes, out.logits.sigmoid()] + ([out.coefs] if out.coefs is not None else [])
        output0 = torch.cat(parts, dim=2).transpose(1, 2)
        if out.protos is None:
            return output0
        return output0, out.protos


def distances_to_xyxy(anchors: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
    """ltrb distances from anchor points -> ``x1, y1, x2, y2`` boxes."""
    return torch.cat([anchors - distances[..., :2], anchors + distances[..., 2:]], dim=-1)


def distances_to_xywh(anchors: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
    """ltrb distances from anchor points -> ``cx, cy, w, h`` boxes."""
    left_top, right_bottom = distances[..., :2], distances[..., 2:]
    centre = anchors + (right_bottom - left_top) / 2.0
    return torch.cat([centre, left_top + right_bottom], dim=-1)


class DilatedBottleneck(nn.Module):
    """Residual 1x1 reduce, dilated 3x3, 1x1 expand: cheap extra context at low resolution."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        hidden = channels // 2
        self.reduce = ConvBN(channels, hidden, 1)
        self.conv = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, 1, dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(hidden),
            nn.SiLU(inplace=True),
        )
        self.expand = ConvBN(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.expand(self.conv(self.reduce(x)))


class ShapeSegmenter(nn.Module):
    """Small FPN / U-Net-like semantic segmenter; logits ``(B, 1 + nc, H, W)`` at input size.

    The stride-32 features get two dilated residual blocks and a global-context term (the
    class of a pixel depends on the whole outline of its shape); an FPN merges strides 4..32, a
    transposed conv brings the result to stride 2 where it is fused with the stem, a 1x1 conv
    predicts the logits, and a final bilinear 2x upsampling (in the graph) restores the input
    resolution. ``aux`` is a training-only deep-supervision classifier on the stride-16 level.
    """

    def __init__(
        self, num_labels: int, widths: tuple[int, int, int, int, int] = (16, 32, 64, 96, 128)
    ) -> None:
        super().__init__()
        self.backbone = Backbone(widths)
        self.context = nn.Sequential(
            DilatedBottleneck(widths[4], 2), DilatedBottleneck(widths[4], 4)
        )
        self.global_context = ConvBN(widths[4], widths[4], 1)
        self.fpn = FPN(widths[1:], 48)
        self.up4 = nn.ConvTranspose2d(48, 24, 2, 2)
        self.lateral2 = ConvBN(widths[0], 24, 1)
        self.fuse2 = ConvBN(24, 24)
        self.head = nn.Conv2d(24, num_labels, 1)
        self.aux = nn.Conv2d(48, num_labels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_train(images)[0]

    def forward_train(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and training-only deep-supervision logits at stride 16."""
        stem = self.backbone.stem(images)
        c4 = self.backbone.s4(stem)
        c8 = self.backbone.s8(c4)
        c16 = self.backbone.s16(c8)
        c32 = self.context(self.backbone.s32(c16))
        c32 = c32 + self.global_context(c32.mean(dim=(2, 3), keepdim=True))
        levels = self.fpn([c4, c8, c16, c32])
        logits = self.head(self.fuse2(self.up4(levels[0]) + self.lateral2(stem)))
        logits = nnf.interpolate(logits, scale_factor=2.0, mode="bilinear", align_corners=False)
        return logits, self.aux(levels[2])


class ShapeClassifier(nn.Module):
    """Tiny CNN classifier; eval mode returns softmax probabilities ``(B, nc)``."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBN(3, 16, 3, 2),
            _stage(16, 32),
            _stage(32, 64),
            _stage(64, 96, True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(96, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.fc(self.features(images))
        return logits if self.training else logits.softmax(dim=1)
