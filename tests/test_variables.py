"""Every environment variable is read in one module (ltr/admin/variables.py) and listed in the docs."""
import ast
from pathlib import Path

import pytest

from ltr.admin.variables import VARIABLES, markdown_table, read_variable

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ('ltr', 'pytracking', 'rgbt')


def environment_reads(path: Path):
    """Lines of `path` that read os.environ or call os.getenv."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ('environ', 'getenv') and \
                isinstance(node.value, ast.Name) and node.value.id == 'os':
            yield node.lineno


def test_no_module_but_the_table_reads_the_environment():
    readers = {str(path.relative_to(REPO)): list(environment_reads(path))
               for package in PACKAGES for path in (REPO / package).rglob('*.py')
               if 'util_scripts' not in path.parts and path.name != 'local.py'}
    offenders = {path: lines for path, lines in readers.items() if lines and path != 'ltr/admin/variables.py'}
    assert offenders == {}


def test_an_unlisted_variable_cannot_be_read_and_the_docs_list_every_one(monkeypatch):
    with pytest.raises(KeyError, match='not in ltr/admin/variables.py'):
        read_variable('SOME_NEW_VARIABLE')
    monkeypatch.setenv('RGBT_MAX_IMAGE_PIXELS', '5')
    assert read_variable('RGBT_MAX_IMAGE_PIXELS') == '5'
    monkeypatch.setenv('CMD_TEACHER', '')
    assert read_variable('CMD_TEACHER') is None                 # empty means unset
    usage = (REPO / 'docs' / 'usage.md').read_text()
    assert markdown_table() in usage and all(f"`{name}`" in usage for name in VARIABLES)
