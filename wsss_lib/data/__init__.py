"""Datasets: the synthetic smoke-and-chimney benchmark, user folders, torch wrappers."""

from .scenes import SmokeScenes

__all__ = ["SmokeScenes"]
