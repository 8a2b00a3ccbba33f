"""The online RGB-T DiMP tracker (DiMP's tracker, pytracking/tracker/dimp, on frame pairs).

Each frame pair is cropped with one geometry for both modalities and fused by the network. The
first frame gives 13 augmented samples + 2 dropout copies (15) from which the linear initialiser
and 10 steepest-descent iterations learn the target filter; every frame, advanced localisation
reads the score map, IoU-Net refines the box by gradient ascent on 10 boxes, and the classifier is
updated from a 50-sample memory on normal and hard-negative frames (2 iterations every 20th frame,
1 on hard negatives).
"""
import math
from typing import Dict, List, Tuple

import numpy as np
import torch

from pytracking.features import augmentation
from pytracking.features.preprocessing import numpy_to_torch, registered_patch, sample_patch
from pytracking.tracker.base.basetracker import BaseTracker
from pytracking.tracker.rgbt_dimp.compute import open_compute
from pytracking.tracker.rgbt_dimp.localization import FLAGS, NOT_FOUND, UNCERTAIN, localize_advanced
from pytracking.tracker.rgbt_dimp.memory import update_sample_weights


def check_registered_sizes(registration, rgb: torch.Tensor, tir: torch.Tensor):
    """The registration's homography, after checking it was made for frames of these sizes
    ((1, 3, H, W) tensors); a ValueError naming the registration file otherwise."""
    sizes = {'rgb_size': (rgb.shape[3], rgb.shape[2]), 'tir_size': (tir.shape[3], tir.shape[2])}
    for key, actual in sizes.items():
        if tuple(getattr(registration, key)) != tuple(int(v) for v in actual):
            raise ValueError(f"{registration.path} was made for {key} {list(getattr(registration, key))}, but the "
                             f"frames are {list(actual)} (width, height): estimate the registration for these frames")
    return registration.tir_from_rgb

class RGBTDiMP(BaseTracker):
    """Tracks one target in a sequence of (rgb, tir) HxWx3 uint8 frame pairs."""

    def initialize(self, image: Tuple[np.ndarray, np.ndarray], info: dict) -> dict:
        params = self.params
        self.compute = open_compute(params)
        self.device, self.net = self.compute.device, self.compute.net
        self.generator = torch.Generator().manual_seed(params.seed)
        self.frame_num = 1
        self.img_sample_sz = torch.tensor([float(self.compute.sample_size)] * 2)

        x, y, w, h = [float(v) for v in info['init_bbox']]
        self.pos = torch.tensor([y + (h - 1) / 2, x + (w - 1) / 2])
        self.target_sz = torch.tensor([h, w])
        search_area = torch.prod(self.target_sz * params.search_area_scale).item()
        self.target_scale = math.sqrt(search_area) / float(self.img_sample_sz[0])
        self.base_target_sz = self.target_sz / self.target_scale
        rgb, tir = self.to_tensors(image)
        self.image_sz = torch.tensor([float(rgb.shape[2]), float(rgb.shape[3])])
        self.registration = info.get('registration')
        self.tir_from_rgb = None
        if self.registration is not None and self.registration.tir_from_rgb is not None:
            self.tir_from_rgb = torch.from_numpy(check_registered_sizes(self.registration, rgb, tir))

        # Device copies of the constants that the per-frame path computes with.
        self.img_sample_sz_device, self.image_sz_device, self.base_target_sz_device = (
            self.upload(t) for t in (self.img_sample_sz, self.image_sz, self.base_target_sz))
        with torch.no_grad():
            features, boxes = self.generate_init_samples(rgb, tir)
            self.init_classifier(features, boxes)
            self.init_iou_net(features)
        return {}

    # ---- images and features ----

    def to_tensors(self, image) -> Tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, H, W) float tensors of a frame pair given as arrays, or as tensors already uploaded
        (Tracker.run_sequence uploads the next frame in its reader thread when tracking on a GPU)."""
        return tuple(frame if torch.is_tensor(frame) else numpy_to_torch(frame) for frame in image)

    def extract_features(self, rgb_patches: torch.Tensor, tir_patches: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Fused layer2/layer3 features and the classification features of (N, 3, h, w) patch pairs,
        in float32, by the compute backend."""
        return self.compute.features(rgb_patches, tir_patches)

    def get_sample(self, image: torch.Tensor, pos: torch.Tensor, scale: float, size: torch.Tensor):
        return sample_patch(image, pos, scale * size, size, mode=self.params.border_mode)

    def get_samples(self, rgb: torch.Tensor, tir: torch.Tensor, pos: torch.Tensor, scale: float, size: torch.Tensor):
        """(rgb patch, thermal patch, the visible patch's coordinates). With a registration the thermal
        patch is warped to show what the visible patch shows; without one both are cut alike."""
        rgb_patch, coords = self.get_sample(rgb, pos, scale, size)
        if self.tir_from_rgb is None:
            tir_patch, _ = self.get_sample(tir, pos, scale, size)
        else:
            tir_patch = registered_patch(tir, self.tir_from_rgb, coords, size)
        return rgb_patch, tir_patch, coords

    def get_iounet_box(self, pos, sz, sample_pos, sample_scale) -> torch.Tensor:
        """The target as [x, y, w, h] in the coordinates of a sample patch."""
        sample_sz = self.img_sample_sz if pos.device == self.img_sample_sz.device else self.img_sample_sz_device
        box_center = (pos - sample_pos) / sample_scale + (sample_sz - 1) / 2
        box_sz = sz / sample_scale
        top_left = box_center - (box_sz - 1) / 2
        return torch.cat((top_left.flip(0), box_sz.flip(0)))

    # ---- initialisation ----

    def _random_shift(self) -> List[int]:
        shift = (torch.rand(2, generator=self.generator) - 0.5) * self.img_sample_sz * self.params.random_shift_factor
        return [int(v) for v in shift]            # truncation, as pytracking's .long()

    def init_transforms(self) -> List[augmentation.Transform]:
        """Identity, 4 translations, flip, 3 blurs, 4 rotations (DiMP's first-frame set)."""
        size = [int(v) for v in self.img_sample_sz]
        transforms = [augmentation.Identity(size)]
        if not self.params.use_augmentation:
            return transforms
        aug = self.params.augmentation
        for shift in aug.get('relativeshift', []):
            absolute = [int(s * v / 2) for s, v in zip(shift, self.img_sample_sz)]
            transforms.append(augmentation.Translation(size, absolute))
        if aug.get('fliplr'):
            transforms.append(augmentation.FlipHorizontal(size, self._random_shift()))
        for sigma in aug.get('blur', []):
            transforms.append(augmentation.Blur(size, sigma, self._random_shift()))
        for angle in aug.get('rotate', []):
            transforms.append(augmentation.Rotate(size, angle, self._random_shift()))
        return transforms

    def generate_init_samples(self, rgb: torch.Tensor, tir: torch.Tensor):
        """Features of the augmented first-frame samples (+ dropout copies) and their target boxes."""
        expansion = self.params.augmentation_expansion_factor if self.params.use_augmentation else 1
        expanded_sz = self.img_sample_sz * expansion
        self.init_sample_pos = self.pos.round()
        self.init_sample_scale = self.target_scale
        rgb_patch, tir_patch, _ = self.get_samples(rgb, tir, self.init_sample_pos, self.target_scale, expanded_sz)
        self.transforms = self.init_transforms()
        rgb_samples = torch.cat([t(rgb_patch) for t in self.transforms])
        tir_samples = torch.cat([t(tir_patch) for t in self.transforms])
        features = self.extract_features(rgb_samples, tir_samples)

        box = self.get_iounet_box(self.pos, self.target_sz, self.init_sample_pos, self.init_sample_scale)
        boxes = [box + torch.tensor([t.shift[1], t.shift[0], 0.0, 0.0]) for t in self.transforms]
        dropout = self.params.augmentation.get('dropout') if self.params.use_augmentation else None
        if dropout:
            copies, probability = dropout
            clf = features['classification']
            keep = torch.rand(copies, clf.shape[1], 1, 1, generator=self.generator).to(clf.device) >= probability
            dropped = clf[:1] * keep / (1 - probability)       # F.dropout2d's channel dropout, seeded
            features['classification'] = torch.cat((clf, dropped))
            boxes += [boxes[0]] * copies
        return features, torch.stack(boxes)

    def init_classifier(self, features: Dict[str, torch.Tensor], boxes: torch.Tensor) -> None:
        train_x = features['classification']                                  # (15, C, h, w)
        num = train_x.shape[0]
        self.target_filter, _, _ = self.net.classifier.get_filter(
            train_x.unsqueeze(1), boxes.to(self.device).view(num, 1, 4), num_iter=self.params.net_opt_iter,
            compute_losses=False)
        memory = self.params.sample_memory_size
        self.training_samples = train_x.new_zeros(memory, *train_x.shape[1:])
        self.training_samples[:num] = train_x
        self.target_boxes = boxes.new_zeros(memory, 4)
        self.target_boxes[:num] = boxes
        self.sample_weights = torch.zeros(memory)
        self.sample_weights[:num] = 1.0 / num
        self.num_init_samples = num
        self.num_stored_samples = num
        self.previous_replace_ind = None

    def init_iou_net(self, features: Dict[str, torch.Tensor]) -> None:
        """Modulation vectors from the identity sample; fixed for the sequence."""
        box = self.get_iounet_box(self.pos, self.target_sz, self.init_sample_pos, self.init_sample_scale)
        reference = [features[layer][:1] for layer in self.net.bb_regressor_layer]
        self.iou_modulation = self.net.bb_regressor.get_modulation(reference, box.view(1, 4).to(self.device))

    # ---- tracking ----

    def upload(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.compute.upload(tensor)

    def track(self, image, info: dict = None) -> dict:
        """Localises, refines and updates. The device is read once per frame: the state and the final box."""
        self.frame_num += 1
        if self.params.compile_backbone and self.device.type == 'cuda':
            torch.compiler.cudagraph_mark_step_begin()      # last frame's graph outputs may be reused
        rgb, tir = self.to_tensors(image)
        sample_pos = self.pos.round()          # the score map's centre cell sits on the target (even map + kernel)
        with torch.no_grad():
            rgb_patch, tir_patch, coords = self.get_samples(rgb, tir, sample_pos, self.target_scale, self.img_sample_sz)
            features = self.extract_features(rgb_patch, tir_patch)
            scores = self.net.classifier.classify(self.target_filter, features['classification'].unsqueeze(1))[0, 0]
        sample_pos = 0.5 * (coords[:2] + coords[2:] - 1)
        sample_scale = float(torch.sqrt(torch.prod((coords[2:] - coords[:2]) / self.img_sample_sz)))

        flag, pos, target_sz, target_scale = self.localize_and_refine(scores, features, sample_pos, sample_scale)
        packed = torch.cat((flag.view(1).to(pos.dtype), pos, target_sz, target_scale.view(1))).cpu()
        flag = FLAGS[int(packed[0])]
        self.pos, self.target_sz, self.target_scale = packed[1:3], packed[3:5], float(packed[5])

        if self.params.update_classifier and flag in ('normal', 'hard_negative'):
            box = self.get_iounet_box(self.pos, self.target_sz, sample_pos, sample_scale)
            with torch.no_grad():
                self.update_classifier(features['classification'], box, flag == 'hard_negative')

        state = torch.cat((self.pos.flip(0) - (self.target_sz.flip(0) - 1) / 2, self.target_sz.flip(0)))
        output = {'target_bbox': state.tolist(), 'flag': flag}
        if self.params.debug:
            output.update(scores=scores.float().cpu(), rgb_patch=rgb_patch, tir_patch=tir_patch)
        return output

    def localize_and_refine(self, scores: torch.Tensor, features, sample_pos: torch.Tensor, sample_scale: float):
        """The frame's state on the tracking device, with no host read: (flag, pos, target_sz, scale).

        Every branch of DiMP's per-frame logic is computed and the right one selected with
        torch.where, so the host does not need the localisation state to go on: on a GPU the
        refinement is also computed on not_found frames, and discarded. On the CPU reading the state
        costs nothing, so that wasted work is skipped."""
        cell = float(self.params.feature_stride) * sample_scale           # image pixels per score cell
        sample_pos = self.upload(sample_pos)
        pos, target_sz = self.upload(self.pos), self.upload(self.target_sz)
        target_scale = torch.full((), self.target_scale, device=self.device)
        displacement, flag = localize_advanced(scores, target_sz / cell, (pos - sample_pos) / cell, self.params)
        found = flag != NOT_FOUND
        new_pos = self.clamp_inside_image(sample_pos + displacement * cell, target_sz)
        new_sz, new_scale = target_sz, target_scale
        # Drawn every frame, so that the random stream, and the boxes, do not depend on the device.
        box_noise = torch.rand(self.params.num_init_random_boxes, 4, generator=self.generator) - 0.5
        if self.params.use_iou_net and (self.device.type != 'cpu' or bool(found)):
            refined_pos, refined_sz, refined = self.refine_target_box(features, new_pos, target_sz, sample_pos,
                                                                       sample_scale, box_noise)
            if self.params.use_iounet_pos_for_learning:
                new_pos = torch.where(refined, refined_pos, new_pos)
            new_sz = torch.where(refined, refined_sz, target_sz)
            update_scale = refined if self.params.update_scale_when_uncertain else refined & (flag != UNCERTAIN)
            refined_scale = torch.sqrt(torch.prod(refined_sz / self.base_target_sz_device))
            new_scale = torch.where(update_scale, refined_scale, target_scale)
        pos, target_sz = torch.where(found, new_pos, pos), torch.where(found, new_sz, target_sz)
        target_scale = torch.where(found, new_scale, target_scale)
        return flag, pos, target_sz, target_scale

    def clamp_inside_image(self, pos: torch.Tensor, target_sz: torch.Tensor) -> torch.Tensor:
        """Keeps at least target_inside_ratio of the target inside the image."""
        inside_offset = (self.params.target_inside_ratio - 0.5) * target_sz
        return torch.maximum(torch.minimum(pos, self.image_sz_device - inside_offset), inside_offset)

    def random_init_boxes(self, box: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The current box plus one jittered box per row of `noise` ((K, 4), uniform in [-0.5, 0.5],
        on the host): (K + 1, 4) xywh, on the box's device."""
        if noise.shape[0] == 0:
            return box.view(1, 4)
        factor = torch.tensor([self.params.box_jitter_pos] * 2 + [self.params.box_jitter_sz] * 2)
        jitter = self.upload(noise * factor)
        jitter = jitter * torch.sqrt(box[2] * box[3])
        size = torch.maximum(box[2:] + jitter[:, 2:], box[2:].min() / 3)
        centre = box[:2] + box[2:] / 2 + jitter[:, :2]
        return torch.cat((box.view(1, 4), torch.cat((centre - size / 2, size), dim=1)))

    def refine_target_box(self, features, pos: torch.Tensor, target_sz: torch.Tensor, sample_pos: torch.Tensor,
                          sample_scale: float, box_noise: torch.Tensor):
        """IoU-Net refinement: 10 boxes, 5 ascent steps, aspect-ratio filter, mean of the top 3.
        Returns the refined position and size, and whether any box passed the filter (else keep)."""
        box = self.get_iounet_box(pos, target_sz, sample_pos, sample_scale)
        params = self.params
        boxes, ious = self.compute.refine_boxes(
            self.iou_modulation, self.compute.iou_features(features), self.random_init_boxes(box, box_noise),
            params.box_refinement_iter, params.box_refinement_step_length, params.box_refinement_step_decay)
        boxes = torch.cat((boxes[:, :2], boxes[:, 2:].clamp(min=1)), dim=1)
        aspect = boxes[:, 2] / boxes[:, 3]
        keep = (aspect < self.params.maximal_aspect_ratio) & (aspect > 1 / self.params.maximal_aspect_ratio)
        keep &= torch.isfinite(boxes).all(dim=1) & torch.isfinite(ious)
        # The top k of the kept boxes: dropped ones rank last and do not count in the mean.
        top_ious, top = torch.topk(torch.where(keep, ious, torch.full_like(ious, -math.inf)),
                                   min(self.params.iounet_k, len(ious)))
        chosen = torch.isfinite(top_ious)
        predicted = torch.where(chosen[:, None], boxes[top], torch.zeros_like(boxes[top])).sum(dim=0)
        predicted = predicted / chosen.sum().clamp(min=1)
        centre = (predicted[:2] + predicted[2:] / 2).flip(0)
        new_pos = (centre - (self.img_sample_sz_device - 1) / 2) * sample_scale + sample_pos
        return new_pos, predicted[2:].flip(0) * sample_scale, keep.any()

    def update_classifier(self, train_x: torch.Tensor, box: torch.Tensor, hard_negative: bool) -> None:
        """Stores the sample in the memory and runs the optimiser when the schedule says so."""
        learning_rate = self.params.hard_negative_learning_rate if hard_negative else self.params.learning_rate
        self.sample_weights, slot = update_sample_weights(
            self.sample_weights, self.previous_replace_ind, self.num_stored_samples, self.num_init_samples,
            learning_rate, self.params.init_samples_minimum_weight)
        self.previous_replace_ind = slot
        self.training_samples[slot] = train_x[0]
        self.target_boxes[slot] = box
        self.num_stored_samples = min(self.num_stored_samples + 1, self.params.sample_memory_size)

        if hard_negative:
            num_iter = self.params.net_opt_hn_iter
        elif (self.frame_num - 1) % self.params.train_skipping == 0:
            num_iter = self.params.net_opt_update_iter
        else:
            num_iter = 0
        if num_iter > 0:
            n = self.num_stored_samples
            self.target_filter, _, _ = self.net.classifier.filter_optimizer(
                self.target_filter, feat=self.training_samples[:n].unsqueeze(1),
                bb=self.upload(self.target_boxes[:n]).view(n, 1, 4),
                sample_weight=self.upload(self.sample_weights[:n]), num_iter=num_iter, compute_losses=False)
