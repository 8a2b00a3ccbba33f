"""Backbone options, checkpoint save/load, and local path settings."""
import os
import sys
import types
import urllib.error

import pytest
import torch

from ltr.admin import loading
from ltr.admin.environment import env_settings as ltr_env_settings
from ltr.admin.model_constructor import NetConstructor
from ltr.models.backbone import resnet18, resnet50
from ltr.models.tracking.dimpnet import dimpnet18
from pytracking.evaluation.environment import env_settings as tracking_env_settings


def test_backbone_returns_requested_layers_and_stops_early():
    net = resnet18()
    ran = []
    for name in ('layer1', 'layer2', 'layer3', 'layer4'):
        getattr(net, name).register_forward_hook(lambda m, i, o, name=name: ran.append(name))
    out = net(torch.randn(1, 3, 64, 64), ['conv1', 'layer2'])
    assert list(out) == ['conv1', 'layer2']
    assert out['conv1'].shape == (1, 64, 32, 32) and out['layer2'].shape == (1, 128, 8, 8)
    assert ran == ['layer1', 'layer2']
    assert resnet50()(torch.randn(1, 3, 64, 64), ['layer3'])['layer3'].shape == (1, 1024, 4, 4)
    with pytest.raises(ValueError, match='layer9'):
        net(torch.randn(1, 3, 32, 32), ['layer9'])


def test_backbone_keys_are_torchvision_keys():
    import torchvision
    assert list(resnet18().state_dict()) == list(torchvision.models.resnet18().state_dict())


def test_frozen_layers_get_no_gradient():
    net = resnet18(frozen_layers=['conv1', 'layer1'])
    assert not net.conv1.weight.requires_grad and not net.layer1[0].conv1.weight.requires_grad
    assert net.layer2[0].conv1.weight.requires_grad


def test_pretrained_backbone_offline_error_says_what_to_do(monkeypatch):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise urllib.error.URLError('no network')

    monkeypatch.setattr(api, 'load_state_dict_from_url', offline)
    with pytest.raises(RuntimeError, match='backbone_pretrained=False'):
        resnet18(pretrained=True)


@pytest.fixture(scope='module')
def small_net():
    return dimpnet18(filter_size=4, num_dist_bins=10, backbone_pretrained=False)


def test_checkpoint_round_trip_by_folder_epoch_and_file(tmp_path, small_net):
    for epoch in (1, 2):
        loading.save_network(small_net, tmp_path / f'DiMPnet_ep{epoch:04d}.pth.tar', epoch=epoch)
    net, checkpoint = loading.load_network(tmp_path)
    assert checkpoint['epoch'] == 2
    assert net.constructor.kwds['filter_size'] == 4 and net.constructor.kwds['backbone_pretrained'] is False
    for key, value in small_net.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    assert loading.load_network(tmp_path, checkpoint=1)[1]['epoch'] == 1
    assert loading.load_network(tmp_path / 'DiMPnet_ep0001.pth.tar')[1]['epoch'] == 1
    with pytest.raises(FileNotFoundError, match='_ep0007'):
        loading.load_network(tmp_path, checkpoint=7)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        loading.load_network(tmp_path / 'missing.pth.tar')
    # Plain data only: the file loads with weights_only=True.
    raw = torch.load(tmp_path / 'DiMPnet_ep0002.pth.tar', weights_only=True)
    assert raw['constructor']['fun_name'] == 'dimpnet18'


def test_legacy_pickled_checkpoint_needs_opt_in(tmp_path, small_net, monkeypatch):
    # Imitate an old pytracking file: the constructor is a pickled object of the 'dlframework' package.
    legacy_module = types.ModuleType('dlframework.admin.model_constructor')

    class LegacyConstructor(NetConstructor):
        pass

    LegacyConstructor.__name__ = LegacyConstructor.__qualname__ = 'NetConstructor'
    LegacyConstructor.__module__ = legacy_module.__name__
    legacy_module.NetConstructor = LegacyConstructor
    for name in ('dlframework', 'dlframework.admin', 'dlframework.admin.model_constructor'):
        monkeypatch.setitem(sys.modules, name, legacy_module if name.endswith('constructor') else types.ModuleType(name))
    path = tmp_path / 'dimp18.pth'
    torch.save({'net': small_net.state_dict(),
                'constructor': LegacyConstructor('dimpnet18', 'ltr.models.tracking.dimpnet', (), small_net.constructor.kwds)},
               path)
    for name in ('dlframework', 'dlframework.admin', 'dlframework.admin.model_constructor'):
        monkeypatch.delitem(sys.modules, name)

    with pytest.raises(RuntimeError, match='allow_legacy_pickle=True'):
        loading.load_network(path)
    net, _ = loading.load_network(path, allow_legacy_pickle=True)
    assert torch.equal(net.state_dict()['classifier.filter_initializer.filter_conv.weight'],
                       small_net.state_dict()['classifier.filter_initializer.filter_conv.weight'])


def test_local_files_are_generated_and_environment_overrides(tmp_path, monkeypatch):
    settings = tracking_env_settings()
    assert settings.local_file.exists()
    monkeypatch.setenv('RGBT_WORKSPACE', str(tmp_path))
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path / 'res'))
    settings = tracking_env_settings()
    assert settings.results_path == str(tmp_path / 'res')
    assert settings.network_path == str(tmp_path / 'networks')
    assert ltr_env_settings().tensorboard_dir == str(tmp_path / 'tensorboard')


@pytest.mark.parametrize('value, message', [('', 'lasher_path is not set'), ('/no/such/folder', 'not an existing folder')])
def test_dataset_path_errors_name_setting_and_variable(monkeypatch, value, message):
    monkeypatch.setenv('LASHER_PATH', value)
    settings = tracking_env_settings()
    settings.lasher_path = value  # as if local.py held this value (the developer's local.py may hold a real path)
    with pytest.raises(FileNotFoundError, match=message) as err:
        settings.require_dir('lasher_path')
    assert 'LASHER_PATH' in str(err.value) and 'local.py' in str(err.value)


def test_dataset_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv('GTOT_PATH', str(tmp_path))
    assert ltr_env_settings().require_dir('gtot_dir') == str(tmp_path)


def test_atomic_write_replaces_whole_files_and_leaves_nothing_on_error(tmp_path):
    from ltr.admin.atomic import atomic_write, atomic_write_text
    target = tmp_path / 'sub' / 'result.txt'
    atomic_write_text(target, 'first\n')
    assert target.read_text() == 'first\n'
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as handle:
            handle.write('half of a second vers')
            raise KeyboardInterrupt
    assert target.read_text() == 'first\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ['result.txt']
