"""Decode files and live streams into timed segments (PyAV)."""

from liveinspect.media.segment import SAMPLE_RATE, Frame, Segment

__all__ = ["SAMPLE_RATE", "Frame", "Segment"]
