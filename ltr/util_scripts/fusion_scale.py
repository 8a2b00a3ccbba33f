"""The scale of each fusion's output against its inputs (issue 23: why does the MPSD student trail
Student-Origin in the miniature?).

    python ltr/util_scripts/fusion_scale.py [--net NAME=CHECKPOINT ...] [--batches 4]

For each network (default: a fresh Student-Origin and a fresh MPSD student, seed 0; or trained
checkpoints), frame pairs of the synthetic training split are cropped as the tracker crops them
(128 px) and, per fused level, the root-mean-square of the backbone's RGB and TIR features, of the
fused output, and for MPSD of each path (sa, rgb*tir, rgb-tir) and the mean path weights are printed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import torch  # noqa: E402
from ltr.admin.settings import Settings  # noqa: E402
from ltr.train_settings.cmd.common import configure, train_loader  # noqa: E402
from ltr.train_settings.cmd.config import PROFILES  # noqa: E402
from ltr.actors.tracking import net_inputs  # noqa: E402
from rgbt.fusion import MPSD  # noqa: E402
from ltr.admin.loading import load_network  # noqa: E402
from rgbt.nets import cmd_student  # noqa: E402


def rms(tensor: torch.Tensor) -> float:
    return float(tensor.pow(2).mean().sqrt())


def batches(count: int):
    settings = Settings('cmd', 'fusion_scale')
    settings.config = PROFILES['smoke'].replace(batch_size=2, iterations=count, num_workers=0)
    configure(settings, 'student')
    torch.manual_seed(0)
    return list(train_loader(settings))


def scales(net, data) -> dict:
    train_rgb, train_tir = net_inputs(data)[:2]          # normalised crops, as the training loader gives them
    feats_rgb, feats_tir = net.extract_backbone_features(train_rgb.reshape(-1, *train_rgb.shape[-3:]),
                                                         train_tir.reshape(-1, *train_tir.shape[-3:]),
                                                         list(net.fusion.keys()))
    out = {}
    for layer, fusion in net.fusion.items():
        r, t = feats_rgb[layer], feats_tir[layer]
        row = {'rgb': rms(r), 'tir': rms(t)}
        if isinstance(fusion, MPSD):
            fused, paths, weights = fusion.forward_with_paths(r, t)
            row.update({'sa': rms(paths[0]), 'rgb*tir': rms(paths[1]), 'rgb-tir': rms(paths[2]),
                        'weights': [round(float(w), 3) for w in weights.mean(0)]})
        else:
            fused = fusion(r, t)
        row['fused'] = rms(fused)
        out[layer] = row
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--net', action='append', default=[], metavar='NAME=CHECKPOINT')
    parser.add_argument('--batches', type=int, default=4)
    args = parser.parse_args(argv)
    nets = {}
    if args.net:
        for item in args.net:
            name, path = item.split('=', 1)
            nets[name] = load_network(path)[0]
    else:
        for name, fusion in (('Student-Origin (fresh)', 'concat'), ('MPSD student (fresh)', 'mpsd')):
            torch.manual_seed(0)
            nets[name] = cmd_student(fusion=fusion, backbone_pretrained=False)
    data = batches(args.batches)
    for name, net in nets.items():
        net.eval()
        with torch.no_grad():
            readings = [scales(net, d) for d in data]
        for layer in readings[0]:
            keys = [k for k in readings[0][layer] if k != 'weights']
            mean = {k: sum(r[layer][k] for r in readings) / len(readings) for k in keys}
            text = ', '.join(f"{k} {v:.3g}" for k, v in mean.items())
            weights = readings[0][layer].get('weights')
            print(f"{name}, {layer}: RMS {text}" + (f"; path weights (first batch) {weights}" if weights else ''))


if __name__ == '__main__':
    main()
