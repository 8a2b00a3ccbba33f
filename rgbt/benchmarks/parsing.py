"""What every RGB-T benchmark layout shares: reading its text files (boxes, name lists, attribute
flags), checking boxes, a sequence's frames and annotations as an RGBTSequence, the base reader
`RGBTBenchmark`, and writing text files the way the real data sets are written. Each layout is one
class in its own module of this package, owning its file names in both directions (read and write).

Boxes are returned as float64 [x, y, w, h] arrays in pixels, exactly as in the files (GTOT's corner
files are converted with w = x2 - x1, no +1, as the GTOT toolkit does). Annotations are read even
when the images are absent, so evaluation needs only the annotation files.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ltr.admin.paths import UnsafeNameError, plain_name
from ltr.data.image_loader import IMAGE_EXTENSIONS, list_frames

PathLike = Union[str, os.PathLike]
DATA_SPECS = Path(__file__).resolve().parents[1] / 'data_specs'


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


def read_attribute_columns(attr_dir: Path, names_file: Path, attributes: Sequence[str]) -> Dict[str, Tuple[str, ...]]:
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
# The base reader, and the writer's half of each layout


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
        return read_attribute_columns(self.root / 'attr_txt', self.root / 'attr_txt' / 'SequencesName.txt',
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

    # ---- writing this layout (the synthetic generator writes through these, so that the reader
    # above reads its output exactly like the real data sets) ----

    # (RGB file name, TIR file name, number of the first frame), formatted with the frame number
    frame_names = ('{:05d}v.jpg', '{:05d}i.jpg', 1)

    @classmethod
    def frame_paths(cls, seq_dir: Path, num_frames: int) -> Tuple[List[Path], List[Path]]:
        """Image paths of a sequence of `num_frames` frames in this layout (RGB, TIR)."""
        rgb_dir, tir_dir = cls.frame_dirs
        rgb_name, tir_name, first = cls.frame_names
        numbers = range(first, first + num_frames)
        return ([seq_dir / rgb_dir / rgb_name.format(i) for i in numbers],
                [seq_dir / tir_dir / tir_name.format(i) for i in numbers])

    @classmethod
    def write_annotations(cls, seq_dir: Path, gt_rgb: np.ndarray, gt_tir: np.ndarray) -> None:
        """The box files of one sequence (integers, as the real files)."""
        raise NotImplementedError

    @classmethod
    def split_folder(cls, root: Path, split: str) -> Path:
        """The folder holding a generated split's sequences ('train' or 'test')."""
        return Path(root) / split

    @classmethod
    def write_split_index(cls, root: Path, split: str, names: Sequence[str],
                          attributes: Dict[str, Sequence[str]]) -> None:
        """A split's sequence list and attribute files (RGBT234's `attr_txt/` by default)."""
        write_attribute_columns(cls.split_folder(root, split) / 'attr_txt', names, cls.attribute_names, attributes)

    @classmethod
    def generated(cls, root: Path, split: str) -> 'RGBTBenchmark':
        """The reader of a split this layout's writer generated under `root`."""
        return cls(cls.split_folder(root, split))


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """Text lines with CRLF endings, as the real benchmarks have them (the readers accept any)."""
    path.write_text('\r\n'.join(lines) + '\r\n', newline='')


def format_rows(boxes: np.ndarray, delimiter: str) -> List[str]:
    return [delimiter.join(str(int(round(v))) for v in row) for row in boxes]


def write_attribute_columns(attr_dir: Path, names: Sequence[str], attribute_names: Sequence[str],
                            attributes: Dict[str, Sequence[str]]) -> None:
    """RGBT234-style attributes (what read_attribute_columns reads): `SequencesName.txt` and one 0/1
    file per attribute, line by line."""
    attr_dir.mkdir(parents=True, exist_ok=True)
    write_lines(attr_dir / 'SequencesName.txt', names)
    for attribute in attribute_names:
        write_lines(attr_dir / f"{attribute}.txt", ['1' if attribute in attributes[n] else '0' for n in names])
