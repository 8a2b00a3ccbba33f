"""Times PrRoIPool forward+backward for DiMP's shapes next to torchvision's roi_align.

    python ltr/util_scripts/benchmark_prroi_pool.py [--device cuda] [--repeats 5]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import torch  # noqa: E402
from torchvision.ops import roi_align  # noqa: E402

from ltr.models.layers.prroi_pool import prroi_pool2d  # noqa: E402

# (description, feature shape, rois per image, pooled size, spatial scale)
CASES = [
    ('IoU-Net train, layer2 (3x26 imgs, 8 proposals)', (78, 256, 36, 36), 8, 5, 1 / 8),
    ('IoU-Net train, layer3 (3x26 imgs, 8 proposals)', (78, 256, 18, 18), 8, 3, 1 / 16),
    ('filter init (15 samples, 1 box)', (15, 256, 18, 18), 1, 4, 1 / 16),
    ('box refinement, layer2 (10 boxes)', (1, 256, 36, 36), 10, 5, 1 / 8),
]


def _time(fn, device, repeats):
    fn()
    times = []
    for _ in range(repeats):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'})")
    print(f"{'case':52s} {'prroi fwd+bwd ms':>17s} {'roi_align fwd+bwd ms':>21s}")
    for name, shape, per_image, pooled, scale in CASES:
        features = torch.randn(*shape, device=device, requires_grad=True)
        num_rois = shape[0] * per_image
        xy = torch.rand(num_rois, 2, device=device) * 200
        wh = 20 + torch.rand(num_rois, 2, device=device) * 60
        index = torch.arange(shape[0], device=device).repeat_interleave(per_image)[:, None].float()
        rois = torch.cat((index, xy, xy + wh), dim=1).requires_grad_(True)

        def prroi():
            prroi_pool2d(features, rois, pooled, pooled, scale).sum().backward()

        def align():
            roi_align(features, rois, (pooled, pooled), scale, sampling_ratio=2, aligned=False).sum().backward()

        t_prroi, t_align = _time(prroi, device, args.repeats), _time(align, device, args.repeats)
        print(f"{name:52s} {t_prroi * 1e3:17.2f} {t_align * 1e3:21.2f}")


if __name__ == '__main__':
    main()
