"""Each training setting of Tables 1-4 builds the student and switches on exactly its loss terms:
the setting file is run as run_training.py runs it (training itself replaced by one actor step)."""
import importlib
from types import SimpleNamespace

import pytest
import torch

from ltr import run_training
from ltr.train_settings.cmd import common, student_distill
from ltr.train_settings.cmd import student as student_recipe
from test_cmd_method import calibrate_batchnorm, make_batch
from rgbt.nets import cmd_teacher

# setting -> (student fusion, two-stream student, loss terms, SCFD targets)
EXPECTED = {
    'student': ('ConcatFusion', False, set(), None),
    'student_scfd': ('ConcatFusion', False, {'scfd'}, 'scfd'),
    'student_mpsd': ('MPSD', False, {'mpsd_fus', 'mpsd_p'}, None),
    'student_mpsd_nodistill': ('MPSD', False, set(), None),      # the verdict's control
    'student_scfd_mpsd': ('MPSD', False, {'scfd', 'mpsd_fus', 'mpsd_p'}, 'scfd'),
    'student_distill': ('MPSD', False, {'scfd', 'mpsd_fus', 'mpsd_p', 'hfrd'}, 'scfd'),
    'student_scfd_saf': ('SpatialAttentionFusion', False, {'scfd', 'mpsd_fus'}, 'scfd'),      # no paths: no L_p
    'student_scfd_caf': ('ChannelAttentionFusion', False, {'scfd', 'mpsd_fus'}, 'scfd'),
    'student_scfd_tf': ('MDCFRSFusion', False, {'scfd', 'mpsd_fus'}, 'scfd'),
    'student_afd': ('ConcatFusion', False, {'scfd'}, 'afd'),
    'student_sed': ('ConcatFusion', False, {'scfd'}, 'sed'),
    'student_ced': ('ConcatFusion', False, {'scfd'}, 'ced'),
    'student_reviewkd': ('MPSD', False, {'scfd'}, 'reviewkd'),
    'student2_kd': ('ConcatFusion', True, {'kd'}, None),
    'student2_fitnets': ('ConcatFusion', True, {'mpsd_fus'}, None),
    'student2_reviewkd': ('ConcatFusion', True, {'scfd'}, 'reviewkd'),
    'student_md': ('image', False, {'mpsd_fus'}, None),          # image-level fusion: no fusion module
}
TERMS = ('scfd', 'mpsd_fus', 'mpsd_p', 'hfrd', 'kd')


BATCH_SEED = 3


class CachedTeacher(torch.nn.Module):
    """The teacher's output for the test batch, computed once: every setting distils from the same."""

    def __init__(self, output, layer_channels):
        super().__init__()
        self.output = output
        self.feature_extractor = SimpleNamespace(layer_channels=layer_channels)    # sizes the adapters

    def forward(self, *inputs, return_features=True):
        return self.output


@pytest.fixture(scope='module')
def teacher():
    from ltr.actors.tracking import net_inputs
    torch.manual_seed(0)
    net = calibrate_batchnorm(cmd_teacher(backbone_pretrained=False))
    with torch.no_grad():
        return CachedTeacher(net(*net_inputs(make_batch(seed=BATCH_SEED)), return_features=True),
                             net.feature_extractor.layer_channels)


def test_every_setting_file_is_listed():
    import ltr.train_settings.cmd as package
    from pathlib import Path
    files = {p.stem for p in Path(package.__file__).parent.glob('student*.py')}
    assert files == set(EXPECTED)


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_setting_switches_on_exactly_its_terms(name, teacher, monkeypatch, tmp_path):
    monkeypatch.setenv('CMD_PROFILE', 'smoke')
    monkeypatch.setenv('RGBT_WORKSPACE', str(tmp_path))
    monkeypatch.setattr(student_distill, 'load_network', lambda *args, **kwargs: (teacher, {}))
    monkeypatch.setattr(common, 'find_teacher', lambda settings: tmp_path / 'teacher.pth.tar')
    monkeypatch.setattr(common, 'train_loader', lambda settings: None)        # no data: one step on a batch below
    captured = {}

    class CapturedTrainer:
        def __init__(self, actor, loaders, optimizer, settings, scheduler):
            captured.update(actor=actor, role=settings.role)

        def train(self, *args, **kwargs):
            return {}

    for recipe in (student_recipe, student_distill):
        monkeypatch.setattr(recipe, 'LTRTrainer', CapturedTrainer)
    config = run_training.build_config(run_training.parse_args(['cmd', name, '--no-backbone-pretrained']))
    settings = run_training.build_settings('cmd', name, config, 'cpu')
    importlib.import_module(f'ltr.train_settings.cmd.{name}').run(settings)

    fusion, two_stream, terms, targets = EXPECTED[name]
    actor = captured['actor']
    student = getattr(actor.net, 'student', actor.net)
    assert captured['role'] == 'student'
    if fusion == 'image':
        assert student.image_fusion and len(student.fusion) == 0 and student.feature_extractor.conv1.in_channels == 6
    else:
        assert not student.image_fusion and type(student.fusion['layer2']).__name__ == fusion
    assert student.two_stream == two_stream
    if targets is not None:
        assert actor.net.distill.scfd_targets == targets
    actor.train(True)
    loss, stats = actor(make_batch(seed=BATCH_SEED))
    assert {t for t in TERMS if f'Loss/{t}' in stats} == terms
    assert torch.isfinite(loss) and loss.requires_grad


def test_the_paper_s_tables_are_written_once_and_name_existing_settings():
    from pathlib import Path
    import ltr.train_settings.cmd as package
    from ltr.train_settings.cmd.tables import PAPER_ROWS, paper_params
    from rgbt.experiments import PAPER, TABLES
    settings = {p.stem for p in Path(package.__file__).parent.glob('*.py')}
    assert {row.setting for row in PAPER_ROWS} <= settings
    assert (paper_params('student'), paper_params('student_scfd_tf'), paper_params('student2_kd')) == (19.8, 25.9, 31.6)
    assert paper_params('student_mpsd_nodistill') is None                   # our control: not a row of the paper
    for table in ('table1', 'table2', 'table3', 'table4'):                   # the experiments' tables come from it
        paper = [(row.name, row.setting) for row in PAPER_ROWS if row.table == table]
        assert [(name, setting) for name, setting, _ in TABLES[table] if setting in PAPER] == paper
