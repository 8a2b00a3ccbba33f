"""Procedural RGB-T benchmark generator: the embedded default data set (see generator.py)."""
from .generator import generate_benchmark, render_sequence, SequenceSpec
