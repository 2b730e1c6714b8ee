"""Decode files and live streams into timed segments (PyAV)."""

from liveinspect.media.audio import load_audio
from liveinspect.media.segment import SAMPLE_RATE, Frame, Segment
from liveinspect.media.source import ResolvedSource, resolve_source

__all__ = ["SAMPLE_RATE", "Frame", "ResolvedSource", "Segment", "load_audio", "resolve_source"]
