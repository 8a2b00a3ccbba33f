"""Tracker interface (pytracking's): initialize(image, info) and track(image) return dicts."""


class BaseTracker:
    def __init__(self, params):
        self.params = params

    def initialize(self, image, info: dict) -> dict:
        raise NotImplementedError

    def track(self, image, info: dict = None) -> dict:
        raise NotImplementedError
