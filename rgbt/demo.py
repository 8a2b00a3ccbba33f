"""The embedded default: one command that shows the pipeline run on generated RGB-T data.

    python -m rgbt.demo [--device auto|cpu|cuda] [--seed N]

At this stage of the package it exercises the DiMP core on a procedurally generated RGB-T frame
pair: a DiMP-18 network (random weights; no download needed) learns a target filter online from
the first frame of each modality with DiMP's steepest-descent optimiser, localises the target in a
later frame where it has moved, and scores box proposals with the IoU-Net. It prints each stage's
result and the parts of the CMD pipeline that are still to come.
"""
import argparse
import time

import numpy as np
import torch

from ltr.models.tracking.dimpnet import dimpnet18

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
CROP = 288
STRIDE = 16


def synthetic_pair(rng: np.random.Generator, box):
    """A textured background with one target: bright-red square in RGB, hot square in TIR.
    Returns (rgb, tir) HxWx3 uint8 crops of size 288 and the box [x, y, w, h]."""
    x, y, w, h = box
    rgb = rng.integers(40, 140, size=(CROP, CROP, 3)).astype(np.uint8)
    tir = np.repeat(rng.integers(20, 80, size=(CROP, CROP, 1)), 3, axis=2).astype(np.uint8)
    rgb[y:y + h, x:x + w] = (220, 40, 30)
    tir[y:y + h, x:x + w] = 235
    return rgb, tir, box


def to_tensor(image: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    return (tensor - IMAGENET_MEAN) / IMAGENET_STD


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args(argv)
    device = torch.device('cuda' if args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available()) else 'cpu')
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    print(f"CMD-RGBT pipeline check on {device}")
    net = dimpnet18(filter_size=4, optim_iter=5, optim_init_step=0.9, optim_init_reg=0.1, init_gauss_sigma=0.9,
                    num_dist_bins=100, bin_displacement=0.1, mask_init_factor=3.0, backbone_pretrained=False)
    net = net.to(device).eval()
    print(f"[1] network: DiMP-18, {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters (random weights)")

    train = [synthetic_pair(rng, (112, 120, 48, 40)) for _ in range(3)]
    test_rgb, test_tir, test_box = synthetic_pair(rng, (168, 88, 48, 40))
    for modality, index in (('RGB', 0), ('TIR', 1)):
        train_imgs = torch.stack([to_tensor(t[index]) for t in train]).unsqueeze(1).to(device)   # (3, 1, 3, H, W)
        train_bb = torch.tensor([t[2] for t in train], dtype=torch.float32).unsqueeze(1).to(device)
        test_img = to_tensor((test_rgb, test_tir)[index]).view(1, 1, 3, CROP, CROP).to(device)
        with torch.no_grad():
            train_feat = net.extract_classification_feat(net.extract_backbone_features(train_imgs.flatten(0, 1)))
            train_feat = train_feat.view(3, 1, *train_feat.shape[-3:])
            weights, _, losses = net.classifier.get_filter(train_feat, train_bb, num_iter=10)
            test_feat = net.extract_classification_feat(net.extract_backbone_features(test_img.flatten(0, 1)))
            scores = net.classifier.classify(weights, test_feat.view(1, 1, *test_feat.shape[-3:]))[0, 0]
        peak_row, peak_col = divmod(int(scores.argmax()), scores.shape[-1])
        true_col = (test_box[0] + test_box[2] / 2) / STRIDE
        true_row = (test_box[1] + test_box[3] / 2) / STRIDE
        print(f"[2] {modality}: steepest-descent loss {losses[0].item():.4f} -> {losses[-1].item():.4f} in 10 iterations; "
              f"score peak at cell ({peak_row}, {peak_col}), target centre at ({true_row:.1f}, {true_col:.1f})")

    with torch.no_grad():
        ref = net.extract_backbone_features(to_tensor(train[0][0]).unsqueeze(0).to(device))
        cur = net.extract_backbone_features(to_tensor(test_rgb).unsqueeze(0).to(device))
        ref_box = torch.tensor([train[0][2]], dtype=torch.float32, device=device)
        modulation = net.bb_regressor.get_modulation(net.get_backbone_bbreg_feat(ref), ref_box)
        iou_feat = net.bb_regressor.get_iou_feat(net.get_backbone_bbreg_feat(cur))
        proposals = torch.tensor([[test_box, (150, 80, 60, 50), (20, 20, 40, 40)]], dtype=torch.float32, device=device)
        iou = net.bb_regressor.predict_iou(modulation, iou_feat, proposals)
    print(f"[3] IoU-Net (untrained) scored {proposals.shape[1]} proposals: {[round(v, 3) for v in iou[0].tolist()]}")
    print("[4] still to come: RGB-T data sets and synthetic benchmark, CMD teacher/student and distillation "
          "training, the online RGB-T tracker, evaluation and plots")
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == '__main__':
    main()
