"""Every registered network builder, tested by being registered (issue 27): the builders are found by
importing the network packages, and each gets the same checks: it builds from plain data, its
parameter count is the one recorded here, its features have the right shapes on a small input, and
it survives a round trip through a checkpoint. A new builder fails here until its count is recorded."""
import importlib
import pkgutil
import subprocess
import sys
import warnings

import pytest
import torch

import ltr.models
import rgbt
from ltr.admin import loading
from ltr.admin.model_constructor import (NetConstructor, UntrustedConstructorError, register_variant,
                                         registered_builders, resolve_builder)

from conftest import REPO_ROOT


def discovered_builders():
    """Imports every module of the network packages (ltr.models, rgbt) and returns the registry."""
    for package in (ltr.models, rgbt):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):
            if not module.name.endswith('__main__'):
                importlib.import_module(module.name)
    return registered_builders()


BUILDERS = discovered_builders()
# Parameters of each builder at its defaults (DiMP heads as constructed; the CMD nets as trained).
PARAMETERS = {'cmd_student': 19_894_753, 'cmd_student_origin': 19_810_135, 'cmd_student_two_stream': 31_499_647,
              'cmd_teacher': 80_465_407, 'dimpnet18': 19_645_626, 'dimpnet50': 43_097_018}
CROP = 64


def feature_shapes(net) -> dict:
    """Shapes of the fused (RGB-T nets) or backbone (DiMP) layer2/layer3 and classification features
    of one CROP x CROP input."""
    image = torch.rand(1, 3, CROP, CROP)
    with torch.no_grad():
        if hasattr(net, 'fuse_features'):
            features = net.extract_features(image, image)
        else:
            features = net.extract_backbone_features(image, ['layer2', 'layer3'])
        features = dict(features, classification=net.extract_classification_feat(features))
    return {name: tuple(value.shape) for name, value in features.items()}


@pytest.mark.parametrize('name', sorted(BUILDERS))
def test_registered_builder(name, tmp_path):
    assert name in PARAMETERS, f"a new builder {name!r}: record its parameter count in PARAMETERS"
    torch.manual_seed(0)
    net = BUILDERS[name](backbone_pretrained=False).eval()
    assert net.constructor.fun_name == name
    assert sum(p.numel() for p in net.parameters()) == PARAMETERS[name]
    resnet50 = PARAMETERS[name] > 40_000_000                     # the teacher and DiMP-50
    channels = (512, 1024, 512) if resnet50 else (128, 256, 256)
    assert feature_shapes(net) == {'layer2': (1, channels[0], CROP // 8, CROP // 8),
                                   'layer3': (1, channels[1], CROP // 16, CROP // 16),
                                   'classification': (1, channels[2], CROP // 16, CROP // 16)}
    rebuilt = NetConstructor.from_dict(net.constructor.to_dict()).get()        # from plain data alone
    assert type(rebuilt) is type(net) and rebuilt.state_dict().keys() == net.state_dict().keys()
    loaded, _ = loading.load_network(loading.save_network(net, tmp_path / f'{name}.pth.tar'))
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_variants_are_their_base_with_other_defaults_and_old_names_still_resolve(monkeypatch):
    from ltr.admin import model_constructor
    from rgbt.nets import rgbt_dimpnet
    monkeypatch.setattr(model_constructor, '_REGISTRY', dict(model_constructor._REGISTRY))    # this test's names go
    monkeypatch.setattr(model_constructor, '_ALIASES', dict(model_constructor._ALIASES))
    assert BUILDERS['cmd_student_origin'].variant_defaults == {'backbone_name': 'resnet18', 'two_stream': False,
                                                               'fusion': 'concat'}
    assert BUILDERS['dimpnet50'].variant_defaults == {'backbone_name': 'resnet50'}
    # Checkpoints name a builder by module path and function, as pytracking's do; both forms resolve.
    assert resolve_builder('rgbt.nets', 'cmd_teacher') is BUILDERS['cmd_teacher']
    assert resolve_builder('ltr.models.tracking.dimpnet', 'dimpnet18') is BUILDERS['dimpnet18']
    old = register_variant('test_only_student', rgbt_dimpnet, aliases=('test_only_old_name',), fusion='concat')
    assert resolve_builder('somewhere.else', 'test_only_old_name') is old
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        again = register_variant('test_only_student', rgbt_dimpnet, fusion='mpsd')
    assert resolve_builder('rgbt.nets', 'test_only_student') is again
    assert any('registered again' in str(w.message) for w in caught)


def test_a_stored_module_is_imported_only_when_it_is_this_package_s(tmp_path):
    """A checkpoint loads in a fresh process that has imported nothing but the loader (the builder's
    own module is imported on demand); a module outside the package is never imported."""
    torch.manual_seed(0)
    path = loading.save_network(BUILDERS['cmd_student_origin'](backbone_pretrained=False), tmp_path / 'net.pth.tar')
    script = ("import sys; from ltr.admin import loading; net, _ = loading.load_network(sys.argv[1]); "
              "print(type(net).__name__, 'rgbt.nets' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', script, str(path)], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['RGBTDiMPnet', 'True']
    for module in ('this', 'os', 'ltr..admin', 'rgbt.nets_that_do_not_exist'):
        with pytest.raises(UntrustedConstructorError, match='not one of this package'):
            resolve_builder(module, 'system')
    assert 'this' not in sys.modules              # importing it would print the Zen of Python
