"""Student + SCFD with SAF fusion (Table 3): L_original + alpha (SCFD + L_fus); L_p needs MPSD's paths, so
it is absent. L_fus on a non-MPSD fusion is our choice (the paper does not say which losses Table 3's
fusion variants use): it keeps the rows comparable with the MPSD row."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='saf', use_scfd=True, use_mpsd=True, use_hfrd=False,
                               description='Student + SCFD with SAF fusion (Table 3)')
