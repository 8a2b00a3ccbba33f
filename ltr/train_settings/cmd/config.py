"""The training configuration of the CMD settings: one frozen, typed object.

Every hyper-parameter a CMD training run uses is a field of `TrainConfig`; nothing else holds a
default for them. The two profiles are instances (`PROFILES`):
- 'dimp_lasher' (default): DiMP's training recipe (pytracking's dimp18/dimp50 settings: batch sizes,
  epochs, learning rates, 288x288 crops) on the LasHeR training split. The CMD paper names the data
  (LasHeR) and alpha/beta only; the rest is DiMP's recipe, our choice.
- 'smoke': the synthetic benchmark, 128x128 crops, batch 2, a few iterations per epoch: a CPU run of
  every setting in about a minute per epoch.

A run starts from a profile (`CMD_PROFILE` or `--profile`), applies its command-line options and
`--set KEY=VALUE` pairs with `TrainConfig.replace` (an unknown key is an error that lists the
fields), prints the result, and the trainer stores it in every checkpoint (`settings['config']`).
Tools (the demo, the experiment commands) build a TrainConfig and call `ltr.run_training.train`.
"""
import logging
import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ltr.actors.tracking import DIMP_HINGE_THRESHOLD
from ltr.admin.variables import read_variable
from ltr.data.processing import DIMP_CENTER_JITTER, DIMP_SCALE_JITTER
from rgbt.distill import (ABF_MID_CHANNELS, DEFAULT_REDUCTION, FINAL_ITERATE, PAPER_ALPHA, PAPER_BETA, PAPER_TARGET_NORM,
                          REDUCTIONS, TARGET_NORMS)

ROLES = ('student', 'teacher')
LR_RECIPES = ('auto', 'dimp18', 'dimp50')
DATA = ('lasher', 'synthetic')
DROPOUT_MODES = ('blank', 'hold')


@dataclass(frozen=True)
class TrainConfig:
    """CMD training hyper-parameters (field comments say where a value comes from)."""
    profile: str = 'dimp_lasher'
    # -- data and schedule (DiMP's recipe)
    data: str = 'lasher'                    # 'lasher' (LASHER_PATH / lasher_dir) or 'synthetic' (synthetic_dir)
    output_sz: int = 288                    # crop size
    student_batch_size: int = 26            # DiMP-18
    teacher_batch_size: int = 10            # DiMP-50
    batch_size: Optional[int] = None        # overrides both roles' batch size
    samples_per_epoch: int = 26000
    iterations: Optional[int] = None        # per epoch; replaces samples_per_epoch (iterations x batch)
    epochs: int = 50
    num_workers: int = 8
    search_area_factor: float = 5.0
    output_sigma_factor: float = 0.25
    target_filter_sz: int = 4
    center_jitter_train: float = DIMP_CENTER_JITTER['train']
    center_jitter_test: float = DIMP_CENTER_JITTER['test']
    scale_jitter_train: float = DIMP_SCALE_JITTER['train']
    scale_jitter_test: float = DIMP_SCALE_JITTER['test']
    hinge_threshold: float = DIMP_HINGE_THRESHOLD    # LBHinge of the classification loss
    grayscale_probability: float = 0.05
    brightness_jitter: float = 0.2
    max_gap: int = 30
    frames_per_set: int = 3                 # train and test frames per sample
    modality_dropout: float = 0.0           # ours, off: the paper's recipe
    modality_dropout_mode: str = 'blank'
    # -- optimisation
    lr_recipe: str = 'auto'                 # 'auto': the role's DiMP rates; DiMP-18's for a teacher from scratch
    lr_step: int = 15                       # StepLR(15, 0.2), DiMP
    lr_gamma: float = 0.2
    # Adam learning rates per parameter group, by module prefix of the tracking network (the first
    # matching prefix wins): pytracking's DiMP-18 and DiMP-50 settings; `lr_recipe` picks one.
    lr_dimp18: Tuple[Tuple[str, float], ...] = (
        ('classifier.filter_initializer', 5e-5), ('classifier.filter_optimizer', 5e-4),
        ('classifier.feature_extractor', 5e-5), ('bb_regressor', 1e-3), ('feature_extractor', 2e-4))
    lr_dimp50: Tuple[Tuple[str, float], ...] = (
        ('classifier.filter_initializer', 5e-5), ('classifier.filter_optimizer', 5e-4),
        ('classifier.feature_extractor', 5e-5), ('bb_regressor', 2e-4), ('feature_extractor', 2e-5))
    lr_base: float = 2e-4                   # fusion modules, distillation adapters and anything not listed
    grad_clip: Optional[float] = None
    amp: bool = False
    seed: int = 0                           # initialisation and training samples
    threads: Optional[int] = None           # torch CPU threads; None: OMP_NUM_THREADS, else the CPUs this process
                                            # may use (ltr.admin.threads; never the load). The resolved count is stored.
    scale_batch_with_processes: bool = False
    # -- initialisation
    backbone_pretrained: bool = True        # ImageNet weights (needs a download or the torch cache)
    dimp_init: Optional[str] = None         # a pytracking DiMP checkpoint
    teacher: Optional[str] = None           # teacher checkpoint (else CMD_TEACHER, else the latest cmd/teacher)
    # -- distillation (rgbt/distill.py)
    distill_alpha: float = PAPER_ALPHA
    distill_beta: float = PAPER_BETA
    abf_mid_channels: int = ABF_MID_CHANNELS
    abf_shared: bool = False
    hfrd_iterate: int = FINAL_ITERATE
    distill_reduction: str = DEFAULT_REDUCTION
    scfd_target_norm: str = PAPER_TARGET_NORM
    # -- run
    fail_safe: bool = True
    tensorboard: bool = True
    keep_checkpoints: Optional[int] = None  # newest N epoch checkpoints (None: all, as pytracking)

    def __post_init__(self):
        for name in ('lr_dimp18', 'lr_dimp50'):     # lists (from JSON or --set) become the frozen form
            groups = tuple((str(prefix), float(rate)) for prefix, rate in getattr(self, name))
            if any(rate <= 0 for _, rate in groups):
                raise ValueError(f"{name}: learning rates must be positive, got {groups}")
            object.__setattr__(self, name, groups)
        choices = {'data': DATA, 'lr_recipe': LR_RECIPES, 'modality_dropout_mode': DROPOUT_MODES,
                   'distill_reduction': REDUCTIONS, 'scfd_target_norm': TARGET_NORMS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        positive = ('output_sz', 'student_batch_size', 'teacher_batch_size', 'samples_per_epoch', 'epochs')
        for name in positive + ('batch_size', 'iterations', 'threads'):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 0.0 <= self.modality_dropout <= 1.0:
            raise ValueError(f"modality_dropout is a probability, got {self.modality_dropout}")

    def replace(self, **overrides) -> 'TrainConfig':
        """A copy with `overrides` applied; an unknown key raises, naming the nearest fields."""
        for key in overrides:
            field_type(key)
        return dataclasses.replace(self, **overrides)

    def batch_size_for(self, role: str) -> int:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        return self.batch_size or (self.student_batch_size if role == 'student' else self.teacher_batch_size)

    def samples_per_epoch_for(self, role: str) -> int:
        return self.iterations * self.batch_size_for(role) if self.iterations else self.samples_per_epoch

    def lr_role(self, role: str) -> str:
        """Which DiMP learning rates a `role` trains with. 'auto': the role's own, except a teacher
        from random initialisation (no ImageNet weights, no DiMP checkpoint), which takes DiMP-18's:
        DiMP-50's backbone rate (2e-5) fine-tunes ImageNet weights and barely moves random ones."""
        if self.lr_recipe != 'auto':
            return 'student' if self.lr_recipe == 'dimp18' else 'teacher'
        from_scratch = not self.backbone_pretrained and not self.dimp_init
        return 'student' if from_scratch else role

    def learning_rates(self, role: str) -> Dict[str, float]:
        """Module prefix -> Adam learning rate of the groups a `role` trains with (see lr_role)."""
        return dict(self.lr_dimp18 if self.lr_role(role) == 'student' else self.lr_dimp50)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line per field, the fields that differ from the profile marked with '*'."""
        base = PROFILES.get(self.profile, TrainConfig())
        lines = []
        for name, value in self.to_dict().items():
            mark = '*' if getattr(base, name) != value else ' '
            lines.append(f"  {mark} {name} = {value!r}")
        return '\n'.join(lines)


def field_type(key: str):
    """The annotated type of TrainConfig field `key`; an unknown key raises, naming the nearest fields."""
    fields = typing.get_type_hints(TrainConfig)
    if key not in fields:
        near = difflib.get_close_matches(key, fields, n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else f"; fields: {', '.join(fields)}"
        raise KeyError(f"unknown training setting {key!r}{hint}")
    return fields[key]


def parse_value(key: str, text: str):
    """`text` converted to the type of field `key` ('none' for an optional field's None)."""
    kind = field_type(key)
    optional = typing.get_origin(kind) is typing.Union and type(None) in typing.get_args(kind)
    if optional:
        if text.lower() in ('none', 'null', ''):
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if typing.get_origin(kind) is tuple:
        try:
            return tuple(tuple(item) for item in json.loads(text))
        except (ValueError, TypeError):
            raise ValueError(f"{key} is a JSON list of [prefix, rate] pairs, got {text!r}") from None
    if kind is bool:
        if text.lower() not in ('1', '0', 'true', 'false', 'yes', 'no'):
            raise ValueError(f"{key} is true or false, got {text!r}")
        return text.lower() in ('1', 'true', 'yes')
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{key} must be {kind.__name__}, got {text!r}") from None


def parse_assignments(pairs) -> Dict[str, Any]:
    """['KEY=VALUE', ...] (from --set) -> typed overrides."""
    out = {}
    for pair in pairs or ():
        key, sep, text = pair.partition('=')
        if not sep:
            raise ValueError(f"--set takes KEY=VALUE, got {pair!r}")
        out[key.strip()] = parse_value(key.strip(), text.strip())
    return out


PROFILES = {
    'dimp_lasher': TrainConfig(),
    'smoke': TrainConfig(profile='smoke', data='synthetic', output_sz=128, student_batch_size=2,
                         teacher_batch_size=2, samples_per_epoch=8, epochs=2, num_workers=0),
}


def profile_config(name: Optional[str] = None) -> TrainConfig:
    """The profile `name`, else CMD_PROFILE's, else 'dimp_lasher'."""
    name = name or read_variable('CMD_PROFILE') or 'dimp_lasher'
    if name == 'paper':             # the profile's earlier name
        logging.getLogger(__name__).warning("profile 'paper' is now called 'dimp_lasher' (DiMP's recipe on LasHeR)")
        name = 'dimp_lasher'
    if name not in PROFILES:
        raise ValueError(f"unknown training profile {name!r} (CMD_PROFILE or --profile); choose from {sorted(PROFILES)}")
    return PROFILES[name]
