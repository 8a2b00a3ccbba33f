"""The paper's Tables 1-4 as data, written once: each row's name in the table, the training setting
that reproduces it, the paper's parameter count and its PR/SR on RGBT234. The setting files report
their parameter count against it, `rgbt.experiments` builds its miniature tables from it (adding
our own rows: the untrained floor and the distillation control), and docs/usage.md lists the same
settings."""
from dataclasses import dataclass
from typing import Dict, List, Optional


@dataclass(frozen=True)
class PaperRow:
    table: str                  # 'table1' .. 'table4'
    name: str                   # the row as the paper names it
    setting: str                # ltr/train_settings/cmd/<setting>.py
    params_m: Optional[float]   # the paper's parameter count (M)
    rgbt234: str                # the paper's PR/SR on RGBT234


PAPER_ROWS = (
    PaperRow('table1', 'Teacher', 'teacher', None, '84.4/60.1'),
    PaperRow('table1', 'Student', 'student', 19.8, '78.1/56.0'),
    PaperRow('table1', '+SCFD', 'student_scfd', 19.8, '80.3/57.4'),
    PaperRow('table1', '+SCFD+MPSD', 'student_scfd_mpsd', 19.9, '82.2/58.3'),
    PaperRow('table1', '+SCFD+MPSD+HFRD', 'student_distill', 19.9, '82.4/58.4'),
    PaperRow('table2', 'Student', 'student', 19.8, '78.1/56.0'),
    PaperRow('table2', 'AFD', 'student_afd', 19.8, '78.7/56.6'),
    PaperRow('table2', 'SED', 'student_sed', 19.8, '79.2/56.5'),
    PaperRow('table2', 'CED', 'student_ced', 19.8, '79.6/56.6'),
    PaperRow('table2', 'SCFD', 'student_scfd', 19.8, '80.3/57.4'),
    PaperRow('table3', 'Student+SCFD', 'student_scfd', 19.8, '80.3/57.4'),
    PaperRow('table3', 'SAF', 'student_scfd_saf', 19.9, '81.9/58.0'),
    PaperRow('table3', 'CAF', 'student_scfd_caf', 19.9, '81.1/57.6'),
    PaperRow('table3', 'TF', 'student_scfd_tf', 25.9, '82.6/58.6'),
    PaperRow('table3', 'MPSD', 'student_scfd_mpsd', 19.9, '82.2/58.3'),
    PaperRow('table4', 'KD (2 Res18)', 'student2_kd', 31.6, '78.4/56.2'),
    PaperRow('table4', 'FitNets (2 Res18)', 'student2_fitnets', 31.6, '79.3/56.0'),
    PaperRow('table4', 'ReviewKD (2 Res18)', 'student2_reviewkd', 31.6, '79.9/56.5'),
    PaperRow('table4', 'ReviewKD (1 Res18)', 'student_reviewkd', 19.9, '80.5/56.3'),
    PaperRow('table4', 'MD (1 Res18)', 'student_md', 19.9, '80.0/55.4'),
    PaperRow('table4', 'Ours', 'student_distill', 19.9, '82.4/58.4'),
)


def paper_rows(table: str) -> List[PaperRow]:
    return [row for row in PAPER_ROWS if row.table == table]


def paper_params(setting: str) -> Optional[float]:
    """The paper's parameter count of the network a setting trains (None: not a row of the paper)."""
    return next((row.params_m for row in PAPER_ROWS if row.setting == setting), None)


def paper_rgbt234() -> Dict[str, str]:
    """setting -> the paper's PR/SR on RGBT234."""
    return {row.setting: row.rgbt234 for row in PAPER_ROWS}
