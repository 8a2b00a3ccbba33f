"""Training data: datasets, sampler, processing (shared geometry, box mapping, proposals), loader."""
import numpy as np
import pytest
import torch

from ltr.data import processing_utils as prutils
from ltr.data.loader import LTRLoader
from ltr.data.processing import RGBTDiMPProcessing
from ltr.data.sampler import RGBTDiMPSampler
from ltr.data.transforms import RandomHorizontalFlip, ToGrayscale, ToTensorAndJitter
from ltr.dataset import Synthetic
from rgbt.synthetic import SequenceSpec, generate_benchmark


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    return generate_benchmark(tmp_path_factory.mktemp('syn'), 'rgbt234', {'train': 2, 'test': 1},
                              SequenceSpec(num_frames=24, width=160, height=128), seed=3, progress=False)


class ToyDataset:
    """One sequence of plain images with a bright target, and some invisible frames."""

    def __init__(self, num_frames=40, invisible=(5, 6, 7, 20, 21)):
        self.boxes = torch.tensor([[30.0 + i, 40.0, 24.0, 16.0] for i in range(num_frames)])
        self.visible = torch.ones(num_frames, dtype=torch.bool)
        self.visible[list(invisible)] = False
        self.requested = []

    def get_name(self):
        return 'toy'

    def get_num_sequences(self):
        return 1

    def __len__(self):
        return 1

    def get_sequence_info(self, seq_id):
        return {'bbox': self.boxes, 'valid': self.visible, 'visible': self.visible}

    def frame(self, index):
        image = np.full((120, 160, 3), 20, np.uint8)
        x, y, w, h = self.boxes[index].int().tolist()
        image[y:y + h, x:x + w] = 250
        return image

    def get_frames(self, seq_id, frame_ids, anno=None):
        self.requested.append(list(frame_ids))
        frames = [self.frame(i) for i in frame_ids]
        return frames, [f.copy() for f in frames], {'bbox': [self.boxes[i] for i in frame_ids]}, {'sequence': 'toy'}


def plain_processing(**kwargs):
    return RGBTDiMPProcessing(transform=ToTensorAndJitter(0.0, normalize=False), **kwargs)


def test_dataset_info_and_frames(synthetic_root):
    dataset = Synthetic(synthetic_root, 'train')
    assert dataset.get_num_sequences() == 2 and dataset.get_name() == 'synthetic_train'
    info = dataset.get_sequence_info(0)
    assert info['bbox'].shape == (24, 4) and info['visible'].dtype == torch.bool and info['visible'].all()
    rgb, tir, anno, meta = dataset.get_frames(0, [0, 5])
    assert rgb[0].shape == (128, 160, 3) and rgb[0].dtype == np.uint8 and len(tir) == 2
    assert torch.equal(anno['bbox'][1], info['bbox'][5]) and torch.equal(anno['bbox_tir'][1], info['bbox_tir'][5])
    assert meta['sequence'] == 'train000'


def test_loader_batch_names_shapes_and_dtypes(synthetic_root):
    sampler = RGBTDiMPSampler([Synthetic(synthetic_root, 'train')], None, samples_per_epoch=4,
                              processing=RGBTDiMPProcessing(joint_transform=ToGrayscale(0.05)))
    batch = next(iter(LTRLoader('train', sampler, batch_size=2, stack_dim=1)))
    for key in ('train_rgb', 'train_tir', 'test_rgb', 'test_tir'):
        assert batch[key].shape == (3, 2, 3, 288, 288) and batch[key].dtype == torch.float32
    assert batch['train_anno'].shape == (3, 2, 4) and batch['test_label'].shape == (3, 2, 19, 19)
    assert batch['test_proposals'].shape == (3, 2, 8, 4) and batch['proposal_iou'].shape == (3, 2, 8)
    assert batch['dataset'] == ['synthetic_train'] * 2


def test_same_geometry_on_both_modalities():
    dataset = ToyDataset()
    sampler = RGBTDiMPSampler([dataset], None, 3, processing=plain_processing(), seed=1)
    for index in range(3):
        sample = sampler[index]
        assert torch.equal(sample['train_rgb'], sample['train_tir'])
        assert torch.equal(sample['test_rgb'], sample['test_tir'])


def test_box_in_crop_is_where_the_target_is():
    dataset = ToyDataset()
    sampler = RGBTDiMPSampler([dataset], None, 4, processing=plain_processing(), seed=2)
    for index in range(4):
        sample = sampler[index]
        for crop, box in zip(torch.cat((sample['train_rgb'], sample['test_rgb'])),
                             torch.cat((sample['train_anno'], sample['test_anno']))):
            bright = crop[0] > 0.5
            ys, xs = torch.nonzero(bright, as_tuple=True)
            x, y, w, h = box.tolist()
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, 288), min(y + h, 288)   # jitter may push it out
            # The bright region spans the mapped box, up to interpolation at its edges.
            assert xs.min() == pytest.approx(x0, abs=1.5) and xs.max() + 1 == pytest.approx(x1, abs=1.5)
            assert ys.min() == pytest.approx(y0, abs=1.5) and ys.max() + 1 == pytest.approx(y1, abs=1.5)


def test_proposal_iou_and_labels():
    sampler = RGBTDiMPSampler([ToyDataset()], None, 2, processing=plain_processing(), seed=4)
    sample = sampler[0]
    iou = prutils.iou_xywh(sample['test_anno'].unsqueeze(1), sample['test_proposals'])
    torch.testing.assert_close(sample['proposal_iou'], 2 * iou - 1)
    assert torch.all(iou > 0.1)
    for label, box in zip(sample['test_label'], sample['test_anno']):
        row, col = divmod(int(label.argmax()), 19)
        centre = (box[:2] + box[2:] / 2) / 16
        assert abs(col - centre[0]) <= 0.5 and abs(row - centre[1]) <= 0.5


def test_sampler_draws_visible_frames_in_causal_order():
    dataset = ToyDataset()
    sampler = RGBTDiMPSampler([dataset], None, 50, max_gap=8, processing=None, seed=5)
    for index in range(50):
        sampler[index]
    for train_ids, test_ids in zip(dataset.requested[0::2], dataset.requested[1::2]):
        assert all(dataset.visible[i] for i in train_ids + test_ids)
        base = train_ids[-1]
        assert max(train_ids) <= base < min(test_ids)
        assert max(test_ids) - base < 8 + 15 and base - min(train_ids) <= 8 + 15


def test_workers_draw_different_samples(synthetic_root):
    sampler = RGBTDiMPSampler([ToyDataset()], None, 4, processing=plain_processing(), seed=0)
    batches = list(LTRLoader('train', sampler, batch_size=2, num_workers=2))
    assert not torch.equal(batches[0]['train_anno'], batches[1]['train_anno'])


def test_horizontal_flip_is_shared_by_modalities_and_boxes():
    rng = np.random.default_rng(0)
    rgb = [np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)]
    tir = [rgb[0] + 1]
    rgb_f, tir_f, boxes = RandomHorizontalFlip(1.0)(rgb, tir, [torch.tensor([1.0, 0.0, 2.0, 3.0])], rng)
    np.testing.assert_array_equal(rgb_f[0], rgb[0][:, ::-1])
    np.testing.assert_array_equal(tir_f[0], tir[0][:, ::-1])
    assert boxes[0].tolist() == [3.0, 0.0, 2.0, 3.0]


def test_crop_outside_the_image_replicates_the_border():
    image = np.zeros((10, 10, 3), np.uint8)
    image[:, -1] = 200
    crop = prutils.crop_and_resize(image, 15, 2, 4, 4)
    assert np.all(crop == 200)
