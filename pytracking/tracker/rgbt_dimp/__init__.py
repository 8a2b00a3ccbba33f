from .rgbt_dimp import RGBTDiMP


def get_tracker_class():
    return RGBTDiMP
