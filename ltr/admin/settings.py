"""Training settings: plain attributes set by a train_settings file (pytracking's Settings)."""
from typing import Any, Dict

from ltr.admin.environment import env_settings


class Settings:
    """Holds `env` (paths), the module/script names and every hyper-parameter a settings file sets."""

    def __init__(self, module_name: str = '', script_name: str = ''):
        self.env = env_settings()
        self.module_name = module_name
        self.script_name = script_name
        self.project_path = f"ltr/{module_name}/{script_name}"
        self.device = 'cpu'
        self.num_workers = 0
        self.print_interval = 1
        self.grad_clip_max_norm = None
        self.use_amp = False
        self.use_tensorboard = True
        self.keep_checkpoints = None     # newest N epoch checkpoints kept (None: all)
        self.rank = 0
        self.world_size = 1
        self.config = None           # the training configuration object (e.g. the CMD TrainConfig)

    def to_dict(self) -> Dict[str, Any]:
        """The plain-data settings (stored in checkpoints; loaded with weights_only=True); an object
        with `to_dict` (the training configuration) is stored as its dict."""
        plain = (bool, int, float, str, type(None))

        def convert(value):
            if hasattr(value, 'to_dict'):
                return value.to_dict()
            if isinstance(value, plain):
                return value
            if isinstance(value, (list, tuple)) and all(isinstance(v, plain) for v in value):
                return list(value)
            if isinstance(value, dict) and all(isinstance(v, plain) for v in value.values()):
                return {str(k): v for k, v in value.items()}
            return None

        out = {}
        for key, value in vars(self).items():
            converted = convert(value)
            if converted is not None or value is None:
                out[key] = converted
        return out
