"""Synthetic-voice models: AASIST (packaged weights), numpy front ends and the trained heads."""

from liveinspect.models.voice.detector import VoiceSpoofModel, WindowScores, export_aasist_onnx
from liveinspect.models.voice.features import WINDOW_SAMPLES, Window, speech_windows, window_batch
from liveinspect.models.voice.head import VoiceHead, load_voice_head

__all__ = ["WINDOW_SAMPLES", "VoiceHead", "VoiceSpoofModel", "Window", "WindowScores", "export_aasist_onnx",
           "load_voice_head", "speech_windows", "window_batch"]
