"""YOLO11's position-sensitive attention: Attention, PSABlock, C2PSA."""
from __future__ import annotations

import torch
from torch import nn

from .conv import Conv


class Attention(nn.Module):
    """Multi-head self-attention over all pixels, with a depth-wise positional encoding of V."""

    def __init__(self, dim: int, num_heads: int = 8, attn_ratio: float = 0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim ** -0.5
        qkv_channels = dim + 2 * self.key_dim * num_heads
        self.qkv = Conv(dim, qkv_channels, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = h * w
        qkv_map = self.qkv(x)
        qkv = qkv_map.view(b, self.num_heads, 2 * self.key_dim + self.head_dim, n)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)
        out = (v @ attn.transpose(-2, -1)).view(b, c, h, w) + self.pe(self._value_map(qkv_map))
        return self.proj(out)

    def _value_map(self, qkv_map: torch.Tensor) -> torch.Tensor:
        """V as a (B, C, H, W) map, sliced from the qkv convolution's channels: the same values as
        v.reshape(b, c, h, w), but an exporter sees a channel slice of a feature map, not a reshape
        of a sequence. onnx2tf then knows the channels and makes `pe` one depth-wise convolution
        (after the reshape it split it into 128 one-channel convolutions and a concat)."""
        per_head = 2 * self.key_dim + self.head_dim
        heads = [qkv_map[:, i * per_head + 2 * self.key_dim:(i + 1) * per_head] for i in range(self.num_heads)]
        return heads[0] if len(heads) == 1 else torch.cat(heads, 1)


class PSABlock(nn.Module):
    """Attention then a two-layer feed-forward, each with a residual."""

    def __init__(self, c: int, attn_ratio: float = 0.5, num_heads: int = 4, shortcut: bool = True):
        super().__init__()
        self.attn = Attention(c, num_heads=num_heads, attn_ratio=attn_ratio)
        self.ffn = nn.Sequential(Conv(c, c * 2, 1), Conv(c * 2, c, 1, act=False))
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x) if self.add else self.attn(x)
        return x + self.ffn(x) if self.add else self.ffn(x)


class C2PSA(nn.Module):
    """Split the channels; run PSA blocks on one half; merge."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, e: float = 0.5):
        super().__init__()
        if c_in != c_out:
            raise ValueError(f"C2PSA keeps its width: got {c_in} in and {c_out} out")
        self.c = int(c_in * e)
        self.cv1 = Conv(c_in, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c_in, 1)
        self.m = nn.Sequential(
            *(PSABlock(self.c, attn_ratio=0.5, num_heads=max(self.c // 64, 1)) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))
