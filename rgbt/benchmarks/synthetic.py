"""The generated benchmark (rgbt.synthetic), read by the reader of the layout it was written in."""
from typing import List

from ltr.admin.json_files import read_json_object
from rgbt.benchmarks.gtot import GTOT
from rgbt.benchmarks.lasher import LasHeR
from rgbt.benchmarks.parsing import AnnotationError, PathLike, RGBTBenchmark, RGBTSequence
from rgbt.benchmarks.rgbt234 import RGBT234
from rgbt.benchmarks.vtuav import VTUAV

# The layouts the generator writes in (each class writes its own files).
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
        self.reader = LAYOUTS[layout].generated(self.root, split)
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
