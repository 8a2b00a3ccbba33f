"""On-disk layouts and annotation formats of the RGB-T benchmarks GTOT, RGBT234, RGBT210, LasHeR
and the synthetic benchmark: the one module that knows file names and box formats. Training
datasets (ltr.dataset), the tracker's sequence lists (pytracking.evaluation) and the evaluation
(pytracking.analysis) all read benchmarks through it.

Boxes are returned as float64 [x, y, w, h] arrays in pixels, exactly as in the files (GTOT's corner
files are converted with w = x2 - x1, no +1, as the GTOT toolkit does). Annotations are read even
when the images are absent, so evaluation needs only the annotation files.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ltr.admin.json_files import read_json_object
from ltr.data.image_loader import IMAGE_EXTENSIONS, list_frames
from ltr.admin.paths import UnsafeNameError, plain_name

PathLike = Union[str, os.PathLike]

RGBT234_ATTRIBUTES = ('BC', 'CM', 'DEF', 'FM', 'HO', 'LI', 'LR', 'MB', 'NO', 'PO', 'SC', 'TC')
GTOT_ATTRIBUTES = ('OCC', 'LSV', 'FM', 'LI', 'TC', 'SO', 'DEF')
LASHER_ATTRIBUTES = ('NO', 'PO', 'TO', 'HO', 'MB', 'LI', 'HI', 'AIV', 'LR', 'DEF', 'BC', 'SA', 'CM', 'TC', 'FL',
                     'OV', 'FM', 'SV', 'ARC')
DATA_SPECS = Path(__file__).resolve().parent / 'data_specs'


class AnnotationError(ValueError):
    """A malformed or inconsistent annotation or data-set file; the message names the file (and line)."""


# ---------------------------------------------------------------------------------------------
# Text files


def read_text_lines(path: PathLike) -> List[str]:
    """Non-empty, stripped lines (see read_numbered_lines)."""
    return [line for _, line in read_numbered_lines(path)]


def read_numbered_lines(path: PathLike) -> List[Tuple[int, str]]:
    """(line number, text) of the non-empty lines, stripped; any line ending (LF, CRLF, bare CR) splits lines.

    UTF-8 (with or without a byte-order mark) and UTF-16 with a byte-order mark (as some Windows
    tools save annotation files) are read; anything else is an AnnotationError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    raw = path.read_bytes()
    encoding = 'utf-16' if raw.startswith((b'\xff\xfe', b'\xfe\xff')) else 'utf-8-sig'
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path} is not UTF-8 or UTF-16 text (byte {err.start}: {err.reason}); "
                              f"save it as UTF-8") from None
    text = text.replace('\r\n', '\n').replace('\r', '\n')
    return [(number, line.strip()) for number, line in enumerate(text.split('\n'), start=1) if line.strip()]


def _parse_rows_slowly(path: Path, lines: List[str], columns: Sequence[int]) -> np.ndarray:
    rows = []
    for number, line in enumerate(lines, start=1):
        tokens = line.replace(',', ' ').split()
        try:
            values = [float(token) for token in tokens]
        except ValueError:
            raise AnnotationError(f"{path}, line {number}: cannot parse {line!r} as numbers") from None
        if len(values) not in columns or (rows and len(values) != len(rows[0])):
            expected = len(rows[0]) if rows else ' or '.join(map(str, columns))
            raise AnnotationError(f"{path}, line {number}: expected {expected} values, got {len(values)} in {line!r}")
        rows.append(values)
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(rows[0]) if rows else columns[0])


def read_boxes(path: PathLike, columns: Sequence[int] = (4,)) -> np.ndarray:
    """Reads a box file: one row per frame, values separated by commas, tabs or runs of spaces.

    Args:
        columns: allowed numbers of values per row (4 for ltwh/corner pairs, 8 for polygons).
    Returns:
        (rows, c) float64 array; an empty file gives (0, columns[0]).
    Raises:
        AnnotationError naming the file and line of the first malformed row.
    """
    path = Path(path)
    lines = read_text_lines(path)
    if not lines:
        return np.zeros((0, columns[0]))
    # Fast path: one C-level parse of the whole file, used only when every line has the same number of
    # values (otherwise 4 + 3 + 5 values would re-flow into three rows of 4); the slow path names the line.
    normalised = [line.replace(',', ' ').replace('\t', ' ') for line in lines]
    counts = {len(line.split()) for line in normalised}
    if len(counts) == 1 and counts <= set(columns):
        try:
            values = np.fromstring(' '.join(normalised), sep=' ')
        except ValueError:
            values = None
        if values is not None and values.size == len(normalised) * next(iter(counts)):
            return values.reshape(len(normalised), -1)
    return _parse_rows_slowly(path, lines, columns)


def valid_box_mask(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) [x, y, w, h] -> (N,) bool: four finite values with a positive width and height, the one
    rule for a box that marks a visible target (in training) and can start tracking."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def invalid_box_reason(box) -> Optional[str]:
    """Why `box` ([x, y, w, h]) cannot start tracking (see valid_box_mask), or None when it can."""
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.shape != (4,):
        return f"it has {values.size} values, not 4 (x, y, w, h)"
    if valid_box_mask(values)[0]:
        return None
    if not np.all(np.isfinite(values)):
        return "it has a non-finite value"
    return "its width and height must be positive"


def first_box_reason(box, width: int, height: int) -> Optional[str]:
    """Why `box` cannot start tracking in a `width` x `height` first frame, or None: the rule of
    invalid_box_reason, and the box must overlap the image and be at most twice its size (a box
    of 1e300 or one 5000 px outside a 128x96 frame would be tracked as nonsense)."""
    reason = invalid_box_reason(box)
    if reason is not None:
        return reason
    x, y, w, h = np.asarray(box, dtype=np.float64).reshape(-1)
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return f"it does not overlap the {width}x{height} image"
    if w > 2 * width or h > 2 * height:
        return f"it is more than twice the size of the {width}x{height} image"
    return None


def corners_to_ltwh(corners: np.ndarray) -> np.ndarray:
    """(N, 4) [x1, y1, x2, y2] -> [x, y, w, h] with w = x2 - x1 (GTOT convention, no +1)."""
    return np.concatenate((corners[:, :2], corners[:, 2:4] - corners[:, :2]), axis=1)


def read_name_list(path: PathLike) -> List[str]:
    """Sequence names, one per line. Each must be a plain name (it becomes part of result file paths:
    `/elsewhere/seq` or `../seq` would write outside the results folder) and appear once (a name
    listed twice would be scored twice); otherwise an AnnotationError naming the file and line."""
    names, seen = [], {}
    for number, name in read_numbered_lines(path):
        try:
            plain_name(name, f"{path}, line {number}")
        except UnsafeNameError as err:
            raise AnnotationError(str(err)) from None
        if name in seen:
            raise AnnotationError(f"{path}, line {number}: {name!r} is listed again (first on line {seen[name]})")
        seen[name] = number
        names.append(name)
    return names


def read_flag(text: str, path: PathLike, number: int) -> bool:
    """An attribute flag: 0 or 1 (also written 0.0 / 1.0); anything else is an AnnotationError."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value not in (0.0, 1.0):
        raise AnnotationError(f"{path}, line {number}: attribute flag {text!r} is not 0 or 1")
    return value == 1.0


# ---------------------------------------------------------------------------------------------
# Sequences


@dataclass
class RGBTSequence:
    """One RGB-T sequence.

    Attributes:
        gt_rgb, gt_tir: (N, 4) float64 boxes [x, y, w, h] per modality (equal where the benchmark
            has one ground truth).
        rgb_frames, tir_frames: N paired image paths, or empty lists when the images are absent.
        attributes: names of the challenge attributes the sequence has.
    """
    name: str
    dataset: str
    gt_rgb: np.ndarray
    gt_tir: np.ndarray
    rgb_frames: List[str] = field(default_factory=list)
    tir_frames: List[str] = field(default_factory=list)
    attributes: Tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.gt_rgb)

    @property
    def has_frames(self) -> bool:
        return bool(self.rgb_frames)

    @property
    def init_box(self) -> np.ndarray:
        """First-frame box the tracker starts from (the visible one)."""
        return self.gt_rgb[0]

    def target_visible(self, modality: str = 'rgb') -> np.ndarray:
        """(N,) bool: the box is finite with positive width and height (zero boxes mark an absent
        target); see valid_box_mask."""
        return valid_box_mask(self.gt_rgb if modality == 'rgb' else self.gt_tir)


def _paired_frames(seq_dir: Path, rgb_sub: str, tir_sub: str, num_boxes: int, gt_file: Path,
                   require_frames: bool) -> Tuple[List[str], List[str]]:
    rgb_dir, tir_dir = seq_dir / rgb_sub, seq_dir / tir_sub
    if not rgb_dir.is_dir() and not tir_dir.is_dir() and not require_frames:
        return [], []                                   # annotation-only copy of the data set
    for folder in (rgb_dir, tir_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"frame folder {folder} does not exist")
    rgb, tir = list_frames(rgb_dir), list_frames(tir_dir)
    if len(rgb) != len(tir):
        raise AnnotationError(f"{seq_dir}: {len(rgb)} frames in {rgb_sub}/ but {len(tir)} in {tir_sub}/")
    if len(rgb) == 0:
        raise AnnotationError(f"{rgb_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    if num_boxes < len(rgb):
        raise AnnotationError(f"{gt_file}: {num_boxes} boxes for {len(rgb)} frames in {seq_dir}")
    if num_boxes > len(rgb):
        raise AnnotationError(f"{seq_dir}: {len(rgb)} frames but {num_boxes} boxes in {gt_file} (missing frames?)")
    return rgb, tir


def _read_attribute_columns(attr_dir: Path, names_file: Path, attributes: Sequence[str]) -> Dict[str, Tuple[str, ...]]:
    """RGBT234-style attributes: one 0/1 file per attribute, aligned line by line with a name list."""
    if not names_file.is_file():
        return {}
    names = read_name_list(names_file)
    flags = {}
    for attribute in attributes:
        path = attr_dir / f"{attribute}.txt"
        if not path.is_file():
            continue
        values = read_numbered_lines(path)
        if len(values) != len(names):
            raise AnnotationError(f"{path}: {len(values)} lines but {len(names)} names in {names_file}")
        flags[attribute] = [read_flag(text, path, number) for number, text in values]
    result = {}
    for index, name in enumerate(names):
        result[name] = tuple(a for a in attributes if a in flags and flags[a][index])
    return result


# ---------------------------------------------------------------------------------------------
# Benchmarks


class RGBTBenchmark:
    """A benchmark root on disk. Subclasses define the layout.

    Args:
        root: the data-set folder.
    """
    name = ''
    attribute_names: Tuple[str, ...] = ()

    def __init__(self, root: PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name} root {self.root} does not exist")
        self._attributes = None

    def sequence_names(self) -> List[str]:
        raise NotImplementedError

    def sequence_dir(self, name: str) -> Path:
        return self.root / name

    def _boxes(self, seq_dir: Path) -> Tuple[np.ndarray, np.ndarray, Path]:
        """(gt_rgb, gt_tir, file whose length defines the sequence)."""
        raise NotImplementedError

    frame_dirs = ('visible', 'infrared')

    def frame_dirs_of(self, seq_dir: Path) -> Tuple[str, str]:
        """The RGB and TIR frame folder names of one sequence."""
        return self.frame_dirs

    def attributes(self) -> Dict[str, Tuple[str, ...]]:
        if self._attributes is None:
            self._attributes = self._read_attributes()
        return self._attributes

    def _read_attributes(self) -> Dict[str, Tuple[str, ...]]:
        return _read_attribute_columns(self.root / 'attr_txt', self.root / 'attr_txt' / 'SequencesName.txt',
                                       self.attribute_names)

    def load_sequence(self, name: str, require_frames: bool = False, annotations_only: bool = False) -> RGBTSequence:
        """Reads one sequence's annotations, and its frame lists when the images are there.

        Args:
            require_frames: raise when the frame folders are missing (tracking needs them).
            annotations_only: do not look at the frame folders at all (evaluation).
        """
        seq_dir = self.sequence_dir(name)
        if not seq_dir.is_dir():
            raise FileNotFoundError(f"sequence folder {seq_dir} does not exist ({self.name} root {self.root})")
        gt_rgb, gt_tir, gt_file = self._boxes(seq_dir)
        if len(gt_rgb) == 0:
            raise AnnotationError(f"{gt_file}: no boxes")
        if len(gt_tir) != len(gt_rgb):
            raise AnnotationError(f"{seq_dir}: {len(gt_rgb)} visible boxes but {len(gt_tir)} infrared boxes")
        rgb, tir = [], []
        if not annotations_only:
            rgb_sub, tir_sub = self.frame_dirs_of(seq_dir)
            rgb, tir = _paired_frames(seq_dir, rgb_sub, tir_sub, len(gt_rgb), gt_file, require_frames)
        return RGBTSequence(name, self.name, gt_rgb, gt_tir, rgb, tir, self.attributes().get(name, ()))

    def sequences(self, require_frames: bool = False, annotations_only: bool = False) -> List[RGBTSequence]:
        return [self.load_sequence(n, require_frames, annotations_only) for n in self.sequence_names()]

    def _names_from_file_or_folders(self, *list_files: Path) -> List[str]:
        for list_file in list_files:
            if list_file.is_file():
                return read_name_list(list_file)
        return sorted(d.name for d in self.root.iterdir() if d.is_dir() and d.name != 'attr_txt')


class GTOT(RGBTBenchmark):
    """GTOT: `<seq>/v/`, `<seq>/i/` (png or bmp), `groundTruth_v.txt` / `groundTruth_i.txt` with
    corners `x1 y1 x2 y2`. Attributes (OCC, LSV, FM, LI, TC, SO, DEF) are read from an optional
    RGBT234-style `attr_txt/` folder; the official MATLAB `AttrMat.mat` is not parsed."""
    name = 'gtot'
    attribute_names = GTOT_ATTRIBUTES
    frame_dirs = ('v', 'i')

    def sequence_names(self) -> List[str]:
        return self._names_from_file_or_folders(self.root / 'SequencesName.txt')

    def _boxes(self, seq_dir):
        rgb_file, tir_file = seq_dir / 'groundTruth_v.txt', seq_dir / 'groundTruth_i.txt'
        return corners_to_ltwh(read_boxes(rgb_file)), corners_to_ltwh(read_boxes(tir_file)), rgb_file


class RGBT234(RGBTBenchmark):
    """RGBT234: `<seq>/visible/*v.jpg`, `<seq>/infrared/*i.jpg`, per-modality `visible.txt` and
    `infrared.txt` (comma ltwh); 12 attributes in `attr_txt/` aligned with its SequencesName.txt."""
    name = 'rgbt234'
    attribute_names = RGBT234_ATTRIBUTES

    def sequence_names(self) -> List[str]:
        return self._names_from_file_or_folders(self.root / 'SequencesName.txt',
                                                self.root / 'attr_txt' / 'SequencesName.txt')

    def _boxes(self, seq_dir):
        rgb_file = seq_dir / 'visible.txt'
        return read_boxes(rgb_file), read_boxes(seq_dir / 'infrared.txt'), rgb_file


class RGBT210(RGBTBenchmark):
    """RGBT210: RGBT234's folders with one `init.txt` for both modalities; attributes from the
    234-line `attr_txt/` index, filtered to the 210 sequences."""
    name = 'rgbt210'
    attribute_names = RGBT234_ATTRIBUTES

    def sequence_names(self) -> List[str]:
        return self._names_from_file_or_folders(self.root / 'SequencesName.txt')

    def _boxes(self, seq_dir):
        init_file = seq_dir / 'init.txt'
        boxes = read_boxes(init_file)
        return boxes, boxes.copy(), init_file


class LasHeR(RGBTBenchmark):
    """LasHeR: `trainingset/<seq>/`, `testingset/<seq>/` with `trainingsetList.txt` and
    `testingsetList.txt` (as distributed), or one flat folder of sequences. Each sequence has
    `visible/`, `infrared/` (irregular names, sorted numerically) and `init.txt`, the single ground
    truth of both modalities (`visible.txt` is missing in some sequences). Zero boxes mark an
    absent target. Attributes: `AttriSeqsTxt/<seq>.txt` (19 flags).

    Args:
        split: 'test' (245, default for evaluation), 'train' (979) or 'all'.
    """
    name = 'lasher'
    attribute_names = LASHER_ATTRIBUTES
    SPLITS = {'train': ('trainingset', 'trainingsetList.txt', 'lasher_train.txt'),
              'test': ('testingset', 'testingsetList.txt', 'lasher_test.txt')}

    def __init__(self, root: PathLike, split: str = 'test'):
        super().__init__(root)
        if split not in ('train', 'test', 'all'):
            raise ValueError(f"LasHeR split must be 'train', 'test' or 'all', got {split!r}")
        self.split = split
        self._folders = {}

    def _split_names(self, split: str) -> List[str]:
        folder, list_name, packaged = self.SPLITS[split]
        for list_file in (self.root / list_name, self.root / folder / list_name, DATA_SPECS / packaged):
            if list_file.is_file():
                names = read_name_list(list_file)
                break
        base = self.root / folder if (self.root / folder).is_dir() else self.root
        for name in names:
            self._folders[name] = base / name
        return names

    def sequence_names(self) -> List[str]:
        splits = ('train', 'test') if self.split == 'all' else (self.split,)
        return [name for split in splits for name in self._split_names(split)]

    def sequence_dir(self, name: str) -> Path:
        if name not in self._folders:
            self.sequence_names()
        return self._folders.get(name, self.root / name)

    def _boxes(self, seq_dir):
        for candidate in ('init.txt', 'visible.txt'):
            gt_file = seq_dir / candidate
            if gt_file.is_file():
                boxes = read_boxes(gt_file)
                return boxes, boxes.copy(), gt_file
        raise FileNotFoundError(f"{seq_dir}: neither init.txt nor visible.txt exists")

    def _read_attributes(self):
        attr_dir = self.root / 'AttriSeqsTxt'
        if not attr_dir.is_dir():
            return {}
        order_file = self.root / 'Attributes_order.txt'
        order = [a.strip() for a in read_text_lines(order_file)[0].split(',')] if order_file.is_file() \
            else list(LASHER_ATTRIBUTES)
        result = {}
        for path in attr_dir.glob('*.txt'):
            flags = read_text_lines(path)[0].split(',') if path.stat().st_size else []
            if len(flags) != len(order):
                raise AnnotationError(f"{path}: {len(flags)} attribute flags, expected {len(order)}")
            result[path.stem] = tuple(a for a, f in zip(order, flags) if read_flag(f.strip(), path, 1))
        return result


VTUAV_ANNOTATION_INTERVAL = 10


class VTUAV(RGBTBenchmark):
    """VTUAV (Zhang et al., CVPR 2022): split folders `train_ST/`, `train_LT/`, `test_ST/`, `test_LT/`
    of sequences with `rgb/` and `ir/` frames (`ir_gray/` in the distributed demo sequence), named
    by 6-digit frame number, and `rgb.txt` / `ir.txt` boxes (ltwh) for every 10th frame only (frames
    0, 10, 20, ...). The sparse annotation is kept honest: gt_rgb / gt_tir have one row per frame,
    NaN where no box was annotated (`annotated_frames` says which); the tracker still runs on every
    frame, and the 'vtuav' protocol scores only the annotated ones.

    `absence.label`, where distributed, holds one 0/1 value per annotated row (1: target absent, the
    GOT-10k convention; our assumption, the format is not documented); those boxes become NaN too.

    Args:
        split: 'test_ST' (default), 'test_LT', 'train_ST', 'train_LT' or 'train' (both training splits).
    """
    name = 'vtuav'
    SPLITS = {'test_ST': ('test_ST',), 'test_LT': ('test_LT',), 'train_ST': ('train_ST',),
              'train_LT': ('train_LT',), 'train': ('train_ST', 'train_LT')}
    TIR_DIRS = ('ir', 'ir_gray')

    def __init__(self, root: PathLike, split: str = 'test_ST'):
        super().__init__(root)
        if split not in self.SPLITS:
            raise ValueError(f"VTUAV split must be one of {', '.join(self.SPLITS)}, got {split!r}")
        self.split = split
        self._folders = {}

    def sequence_names(self) -> List[str]:
        names = []
        for folder in self.SPLITS[self.split]:
            split_dir = self.root / folder
            if not split_dir.is_dir():
                raise FileNotFoundError(f"VTUAV split folder {split_dir} does not exist (VTUAV_PATH is the "
                                        f"folder holding {', '.join(self.SPLITS[self.split])})")
            for seq_dir in sorted(d for d in split_dir.iterdir() if (d / 'rgb.txt').is_file() or (d / 'rgb').is_dir()):
                self._folders[seq_dir.name] = seq_dir
                names.append(seq_dir.name)
        return names

    def sequence_dir(self, name: str) -> Path:
        if name not in self._folders:
            self.sequence_names()
        return self._folders.get(name, self.root / name)

    def _read_attributes(self) -> Dict[str, Tuple[str, ...]]:
        """Optional RGBT234-style `attr_txt/` in each split folder (one 0/1 file per attribute, aligned
        with its SequencesName.txt), as for GTOT: VTUAV's own attribute files are not read, their
        format not being documented in our sources."""
        result = {}
        for folder in self.SPLITS[self.split]:
            attr_dir = self.root / folder / 'attr_txt'
            if attr_dir.is_dir():
                names = sorted(p.stem for p in attr_dir.glob('*.txt') if p.stem != 'SequencesName')
                result.update(_read_attribute_columns(attr_dir, attr_dir / 'SequencesName.txt', names))
        return result

    def frame_dirs_of(self, seq_dir: Path) -> Tuple[str, str]:
        tir = next((d for d in self.TIR_DIRS if (seq_dir / d).is_dir()), self.TIR_DIRS[0])
        return 'rgb', tir

    def num_frames(self, seq_dir: Path, annotated_rows: int) -> int:
        """Frames in the RGB folder; without frames, the last annotated frame + 1."""
        rgb_dir = seq_dir / 'rgb'
        if rgb_dir.is_dir():
            return len(list_frames(rgb_dir))
        return (annotated_rows - 1) * VTUAV_ANNOTATION_INTERVAL + 1

    def _boxes(self, seq_dir):
        rgb_file, tir_file = seq_dir / 'rgb.txt', seq_dir / 'ir.txt'
        sparse_rgb, sparse_tir = read_boxes(rgb_file), read_boxes(tir_file)
        if len(sparse_rgb) != len(sparse_tir):
            raise AnnotationError(f"{seq_dir}: {len(sparse_rgb)} boxes in rgb.txt but {len(sparse_tir)} in ir.txt")
        absent = self._absence(seq_dir, len(sparse_rgb))
        sparse_rgb[absent], sparse_tir[absent] = np.nan, np.nan
        frames = self.num_frames(seq_dir, len(sparse_rgb))
        needed = (len(sparse_rgb) - 1) * VTUAV_ANNOTATION_INTERVAL + 1
        if frames < needed:
            raise AnnotationError(f"{rgb_file}: {len(sparse_rgb)} boxes (every {VTUAV_ANNOTATION_INTERVAL}th frame) "
                                  f"need at least {needed} frames, {seq_dir / 'rgb'} has {frames}")
        gt_rgb, gt_tir = np.full((frames, 4), np.nan), np.full((frames, 4), np.nan)
        annotated = annotated_frames(len(sparse_rgb))
        gt_rgb[annotated], gt_tir[annotated] = sparse_rgb, sparse_tir
        return gt_rgb, gt_tir, rgb_file

    @staticmethod
    def _absence(seq_dir: Path, rows: int) -> np.ndarray:
        path = seq_dir / 'absence.label'
        if not path.is_file():
            return np.zeros(rows, bool)
        values = read_text_lines(path)
        if len(values) != rows or any(v.strip() not in ('0', '1') for v in values):
            raise AnnotationError(f"{path}: expected {rows} lines of 0 or 1 (one per annotated frame), "
                                  f"got {len(values)} lines")
        return np.array([v.strip() == '1' for v in values])


def annotated_frames(rows: int) -> np.ndarray:
    """Indices of the frames VTUAV annotates, for `rows` annotation rows: 0, 10, 20, ..."""
    return np.arange(rows) * VTUAV_ANNOTATION_INTERVAL


LAYOUTS = {'gtot': GTOT, 'rgbt234': RGBT234, 'lasher': LasHeR, 'vtuav': VTUAV}
SYNTHETIC_META = 'synthetic.json'


class Synthetic(RGBTBenchmark):
    """The generated benchmark (rgbt.synthetic): `synthetic.json` names the layout it was written
    in; the splits are `train/` and `test/` (GTOT and RGBT234 layouts) or LasHeR's
    `trainingset/` and `testingset/`. Sequences are read by that layout's reader."""
    name = 'synthetic'

    def __init__(self, root: PathLike, split: str = 'test'):
        super().__init__(root)
        meta_file = self.root / SYNTHETIC_META
        if not meta_file.is_file():
            raise FileNotFoundError(f"{meta_file} does not exist: generate the benchmark with "
                                    f"`python -m rgbt.synthetic --out {self.root}`")
        self.meta = read_json_object(meta_file, AnnotationError)
        layout = self.meta.get('layout')
        if layout not in LAYOUTS:
            raise AnnotationError(f"{meta_file}: unknown layout {layout!r}")
        if split not in ('train', 'test'):
            raise ValueError(f"synthetic split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.layout = layout
        if layout == 'lasher':
            self.reader = LasHeR(self.root, split)
        elif layout == 'vtuav':
            self.reader = VTUAV(self.root, SYNTHETIC_VTUAV_SPLITS[split])
        else:
            self.reader = LAYOUTS[layout](self.root / split)
        self.attribute_names = self.reader.attribute_names
        # The evaluation protocol: the VTUAV layout is annotated sparsely and scored like VTUAV.
        self.protocol = 'vtuav' if layout == 'vtuav' else 'synthetic'

    def sequence_names(self) -> List[str]:
        return self.reader.sequence_names()

    def load_sequence(self, name: str, require_frames: bool = False, annotations_only: bool = False) -> RGBTSequence:
        sequence = self.reader.load_sequence(name, require_frames, annotations_only)
        sequence.dataset = self.name
        return sequence

    def attributes(self):
        return self.reader.attributes()


BENCHMARKS = {'gtot': GTOT, 'rgbt234': RGBT234, 'rgbt210': RGBT210, 'lasher': LasHeR, 'synthetic': Synthetic,
              'vtuav': VTUAV}
SPLIT_BENCHMARKS = {'lasher': 'test', 'synthetic': 'test', 'vtuav': 'test_ST'}     # those with splits: the default


def open_benchmark(name: str, root: PathLike, split: Optional[str] = None) -> RGBTBenchmark:
    """A benchmark reader by name; `split` applies to LasHeR and the synthetic benchmark."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose from {sorted(BENCHMARKS)}")
    cls = BENCHMARKS[name]
    if name in SPLIT_BENCHMARKS:
        return cls(root, split or SPLIT_BENCHMARKS[name])
    if split not in (None, 'test'):
        raise ValueError(f"{name} has a single split; got split={split!r}")
    return cls(root)


# ---------------------------------------------------------------------------------------------
# Writing a benchmark in a layout (used by the synthetic generator, so that the readers above
# read it exactly like the real data sets).


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    # The real benchmarks use CRLF; the readers accept any line ending.
    path.write_text('\r\n'.join(lines) + '\r\n', newline='')


def _format_rows(boxes: np.ndarray, delimiter: str) -> List[str]:
    return [delimiter.join(str(int(round(v))) for v in row) for row in boxes]


# layout -> (RGB folder, TIR folder, RGB file name, TIR file name, number of the first frame)
FRAME_NAMES = {
    'gtot': ('v', 'i', '{:05d}v.jpg', '{:05d}i.jpg', 1),
    'rgbt234': ('visible', 'infrared', '{:05d}v.jpg', '{:05d}i.jpg', 1),
    'lasher': ('visible', 'infrared', 'v{:06d}.jpg', 'i{:06d}.jpg', 0),
    'vtuav': ('rgb', 'ir', '{:06d}.jpg', '{:06d}.jpg', 0),
}


def sequence_frame_paths(layout: str, seq_dir: Path, num_frames: int) -> Tuple[List[Path], List[Path]]:
    """Image paths a sequence of `num_frames` has in `layout` (RGB, TIR)."""
    if layout in FRAME_NAMES:
        rgb_dir, tir_dir, rgb_name, tir_name, first = FRAME_NAMES[layout]
        numbers = range(first, first + num_frames)
        return ([seq_dir / rgb_dir / rgb_name.format(i) for i in numbers],
                [seq_dir / tir_dir / tir_name.format(i) for i in numbers])
    raise ValueError(f"unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")


def write_sequence_annotations(layout: str, seq_dir: Path, gt_rgb: np.ndarray, gt_tir: np.ndarray) -> None:
    """Box files of one sequence in `layout` (integers, as the real files)."""
    if layout == 'gtot':
        corners = lambda b: np.concatenate((b[:, :2], b[:, :2] + b[:, 2:]), axis=1)  # noqa: E731
        (seq_dir / 'groundTruth_v.txt').write_text('\n'.join(_format_rows(corners(gt_rgb), ' ')) + '\n')
        (seq_dir / 'groundTruth_i.txt').write_text('\n'.join(_format_rows(corners(gt_tir), ' ')) + '\n')
        _write_lines(seq_dir / 'init.txt', _format_rows(gt_rgb, '\t'))
    elif layout == 'rgbt234':
        _write_lines(seq_dir / 'visible.txt', _format_rows(gt_rgb, ','))
        _write_lines(seq_dir / 'infrared.txt', _format_rows(gt_tir, ','))
        _write_lines(seq_dir / 'init.txt', _format_rows(gt_rgb, ','))
    elif layout == 'lasher':
        # LasHeR has one ground truth for both modalities (init.txt = visible.txt = infrared.txt).
        for name in ('init.txt', 'visible.txt', 'infrared.txt'):
            _write_lines(seq_dir / name, _format_rows(gt_rgb, ','))
    elif layout == 'vtuav':
        # Every 10th frame only, space-separated (as the distributed files).
        annotated = slice(0, None, VTUAV_ANNOTATION_INTERVAL)
        _write_lines(seq_dir / 'rgb.txt', _format_rows(gt_rgb[annotated], ' '))
        _write_lines(seq_dir / 'ir.txt', _format_rows(gt_tir[annotated], ' '))
    else:
        raise ValueError(f"unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")


SYNTHETIC_VTUAV_SPLITS = {'train': 'train_ST', 'test': 'test_ST'}


def split_folder(layout: str, root: Path, split: str) -> Path:
    """Folder holding a split's sequences: `train/`, `test/`, LasHeR's `trainingset/`, `testingset/`,
    or VTUAV's `train_ST/`, `test_ST/`."""
    if layout == 'lasher':
        return root / LasHeR.SPLITS[split][0]
    if layout == 'vtuav':
        return root / SYNTHETIC_VTUAV_SPLITS[split]
    return root / split


def write_split_index(layout: str, root: Path, split: str, names: Sequence[str],
                      attributes: Dict[str, Sequence[str]]) -> None:
    """Sequence list and attribute files of one split in `layout`."""
    folder = split_folder(layout, root, split)
    if layout == 'vtuav':
        return              # VTUAV's folders are its sequence list; no attribute files are written
    if layout == 'lasher':
        _write_lines(root / LasHeR.SPLITS[split][1], names)
        attr_dir = root / 'AttriSeqsTxt'
        attr_dir.mkdir(parents=True, exist_ok=True)
        (root / 'Attributes_order.txt').write_text(', '.join(LASHER_ATTRIBUTES))
        for name in names:
            (attr_dir / f"{name}.txt").write_text(','.join('1' if a in attributes[name] else '0'
                                                           for a in LASHER_ATTRIBUTES))
        return
    attr_dir = folder / 'attr_txt'
    attr_dir.mkdir(parents=True, exist_ok=True)
    _write_lines(attr_dir / 'SequencesName.txt', names)
    if layout == 'gtot':
        (folder / 'SequencesName.txt').write_text('\n'.join(names))
    for attribute in LAYOUTS[layout].attribute_names:
        _write_lines(attr_dir / f"{attribute}.txt", ['1' if attribute in attributes[n] else '0' for n in names])
