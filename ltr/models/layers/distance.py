"""Distance-bin encoding of the DiMP steepest-descent module (DiMP paper, Sec. 3.3)."""
import torch
from torch import nn


class DistanceMap(nn.Module):
    """Encodes the distance of every score-map cell to the target centre with triangular bins.

    With t = dist / bin_displacement, bin k < N-1 is max(0, 1 - |t - k|) and the last bin is
    clamp(1 + t - (N-1), 0, 1), so the bins sum to one and the last bin saturates far away.
    Input centre (B, 2) as (y, x) in score-map cells; output (B, N, H, W).
    """

    def __init__(self, num_bins: int, bin_displacement: float = 1.0):
        super().__init__()
        self.num_bins = num_bins
        self.bin_displacement = bin_displacement

    def forward(self, center: torch.Tensor, output_sz) -> torch.Tensor:
        height, width = int(output_sz[0]), int(output_sz[1])
        bins = torch.arange(self.num_bins, dtype=center.dtype, device=center.device).view(1, -1, 1, 1)
        rows = torch.arange(height, dtype=center.dtype, device=center.device).view(1, 1, -1, 1)
        cols = torch.arange(width, dtype=center.dtype, device=center.device).view(1, 1, 1, -1)
        dy = rows - center[:, 0].view(-1, 1, 1, 1)
        dx = cols - center[:, 1].view(-1, 1, 1, 1)
        t = torch.sqrt(dy * dy + dx * dx) / self.bin_displacement      # (B, 1, H, W)
        inner = torch.relu(1.0 - torch.abs(t - bins[:, :-1]))
        last = (1.0 + t - (self.num_bins - 1)).clamp(0.0, 1.0)
        return torch.cat((inner, last), dim=1)
