"""The procedural RGB-T benchmark: deterministic, readable in every layout, with attributes."""
import hashlib
from pathlib import Path

import numpy as np
import pytest

from ltr.data.image_loader import imread_rgb
from pytracking.evaluation.datasets import get_dataset
from rgbt.benchmarks import Synthetic
from rgbt.synthetic.generator import SequenceSpec, generate_benchmark, render_sequence

SMALL = SequenceSpec(num_frames=6, width=96, height=80)


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob('*') if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = generate_benchmark(tmp_path / 'a', 'rgbt234', {'train': 2, 'test': 2}, SMALL, seed=5, progress=False)
    b = generate_benchmark(tmp_path / 'b', 'rgbt234', {'train': 2, 'test': 2}, SMALL, seed=5, progress=False)
    c = generate_benchmark(tmp_path / 'c', 'rgbt234', {'train': 2, 'test': 2}, SMALL, seed=6, progress=False)
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)


@pytest.mark.parametrize('layout', ['rgbt234', 'gtot', 'lasher'])
def test_every_layout_reads_back_with_frames_boxes_and_attributes(tmp_path, layout):
    root = generate_benchmark(tmp_path, layout, {'train': 3, 'test': 4}, SMALL, seed=1, progress=False)
    for split, count in (('train', 3), ('test', 4)):
        benchmark = Synthetic(root, split)
        sequences = benchmark.sequences(require_frames=True)
        assert len(sequences) == count
        assert any(sequence.attributes for sequence in sequences)
        for sequence in sequences:
            assert len(sequence) == SMALL.num_frames == len(sequence.rgb_frames) == len(sequence.tir_frames)
            if layout != 'gtot':                               # GTOT has no 'no occlusion' attribute
                assert sequence.attributes, sequence.name
            assert set(sequence.attributes) <= set(benchmark.attribute_names)
            assert np.all(sequence.gt_rgb[:, 2:] >= 1)
            assert np.all(sequence.gt_rgb[:, :2] >= 0)
            rgb, tir = imread_rgb(sequence.rgb_frames[0]), imread_rgb(sequence.tir_frames[0])
            assert rgb.shape == tir.shape == (SMALL.height, SMALL.width, 3)
            assert np.array_equal(tir[:, :, 0], tir[:, :, 2])  # grey thermal replicated to 3 channels


def test_rerun_reuses_complete_benchmark_and_registry_finds_it(tmp_path, monkeypatch):
    root = generate_benchmark(tmp_path, 'rgbt234', {'train': 1, 'test': 2}, SMALL, seed=2, progress=False)
    stamp = (root / 'synthetic.json').stat().st_mtime_ns
    generate_benchmark(tmp_path, 'rgbt234', {'train': 1, 'test': 2}, SMALL, seed=2, progress=False)
    assert (root / 'synthetic.json').stat().st_mtime_ns == stamp
    monkeypatch.setenv('SYNTHETIC_PATH', str(root))
    assert [s.name for s in get_dataset('synthetic')] == ['test000', 'test001']
    assert len(get_dataset('synthetic_train')) == 1


def test_target_is_warm_in_thermal_and_modalities_are_misaligned():
    rng = np.random.default_rng(11)
    rgb, tir, gt_rgb, gt_tir, attributes = render_sequence(rng, SequenceSpec(num_frames=30, width=160, height=128))
    x, y, w, h = gt_tir[0]
    inside = tir[0][int(y + h * 0.4):int(y + h * 0.6), int(x + w * 0.4):int(x + w * 0.6), 0].mean()
    if 'thermal_crossover' not in attributes:            # occlusion never starts before frame n // 5
        assert inside > np.median(tir[0][:, :, 0]) + 40
    offset = np.abs(gt_rgb[:, :2] - gt_tir[:, :2])
    assert np.all(offset <= 5) and np.any(offset > 0)


@pytest.mark.parametrize('layout', ['rgbt234', 'gtot', 'lasher'])
def test_files_hold_what_the_generator_rendered(tmp_path, layout):
    """Each sequence is rendered again from its seed and compared with what the benchmark reader
    returns: the clipped boxes exactly, the attributes by name, the frames up to JPEG loss."""
    from rgbt.synthetic.generator import _clip_box, layout_attributes
    root = generate_benchmark(tmp_path, layout, {'train': 1, 'test': 2}, SMALL, seed=4, progress=False)
    for split_id, split in enumerate(('test', 'train')):          # splits are generated in sorted order
        for index, sequence in enumerate(Synthetic(root, split).sequences(require_frames=True)):
            rgb, tir, gt_rgb, gt_tir, attributes = render_sequence(np.random.default_rng([4, split_id, index]), SMALL)
            assert sequence.name == f"{split}{index:03d}"
            drawn_tir = gt_rgb if layout == 'lasher' else gt_tir        # LasHeR: one ground truth for both
            for read, drawn in ((sequence.gt_rgb, gt_rgb), (sequence.gt_tir, drawn_tir)):
                np.testing.assert_array_equal(read, [_clip_box(b, SMALL.width, SMALL.height) for b in drawn])
            assert sorted(sequence.attributes) == sorted(layout_attributes(layout, attributes))
            for frame in (0, SMALL.num_frames - 1):
                for path, image in ((sequence.rgb_frames[frame], rgb[frame]), (sequence.tir_frames[frame], tir[frame])):
                    error = np.abs(imread_rgb(path).astype(float) - image.astype(float)).mean()
                    assert error < 8, (path, error)                   # JPEG quality 90 on noisy texture
