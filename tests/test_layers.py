"""The package's layers (../shared/DESIGN.md, "Layers"), read from the import statements (AST): no
module imports upward.

    core      ltr.admin, ltr.models, ltr.data.image_loader, ltr.data.registration, ltr.data.processing_utils, ltr.data.transforms
    method    rgbt (benchmarks, fusion, nets, distill, synthetic)
    training  the rest of ltr (data, dataset, actors, trainers, train_settings)   } side by side,
    tracking  pytracking (tracker, parameters, evaluation, analysis)             } never each other
    tools     rgbt.demo, rgbt.experiments, rgbt.dropout_experiment, rgbt.miniature, the run_*.py command lines,
              util_scripts, python -m rgbt.synthetic
"""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = ('ltr.admin', 'ltr.models', 'ltr.data.image_loader', 'ltr.data.registration', 'ltr.data.processing_utils', 'ltr.data.transforms')
TOOLS = ('rgbt.demo', 'rgbt.register', 'rgbt.unaligned_experiment', 'rgbt.experiments', 'rgbt.dropout_experiment', 'rgbt.miniature', 'rgbt.synthetic.__main__', 'ltr.run_training',
         'ltr.util_scripts', 'pytracking.run_', 'pytracking.util_scripts')
HEIGHT = {'core': 0, 'method': 1, 'training': 2, 'tracking': 2, 'tools': 3}


def layer_of(module: str) -> str:
    if module.startswith(TOOLS):
        return 'tools'
    if module.startswith(CORE):
        return 'core'
    if module == 'rgbt' or module.startswith('rgbt.'):
        return 'method'
    if module == 'ltr' or module.startswith('ltr.'):
        return 'training'
    return 'tracking'


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_modules(path: Path, module: str):
    package = module.split('.') if path.name == '__init__.py' else module.split('.')[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module
            else:
                base = package[:len(package) - node.level + 1]
                yield '.'.join(base + ([node.module] if node.module else []))


def package_imports():
    for package in ('ltr', 'rgbt', 'pytracking'):
        for path in sorted((REPO / package).rglob('*.py')):
            if path.stem == 'local':                       # generated settings files
                continue
            module = module_name(path)
            for imported in imported_modules(path, module):
                if imported.split('.')[0] in ('ltr', 'rgbt', 'pytracking'):
                    yield module, imported


def test_no_module_imports_a_higher_or_sibling_layer():
    edges = list(package_imports())
    assert len(edges) > 200                                # the parse found the package's imports
    upward = [f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})" for a, b in edges
              if HEIGHT[layer_of(b)] > HEIGHT[layer_of(a)]
              or {layer_of(a), layer_of(b)} == {'training', 'tracking'}]
    assert upward == []


def test_the_layer_rule_catches_an_upward_import():
    assert layer_of('rgbt.nets') == 'method' and layer_of('rgbt.demo') == 'tools'
    assert HEIGHT[layer_of('rgbt.demo')] > HEIGHT[layer_of('rgbt.nets')]
    assert {layer_of('ltr.actors'), layer_of('pytracking.evaluation')} == {'training', 'tracking'}
