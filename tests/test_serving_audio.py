"""POST /v1/audio with the real speech analyzer (the packaged Whisper base and silero VAD)."""

from __future__ import annotations

from pathlib import Path

import pytest
from media_factory import make_image
from serving_support import ThreadServer, add_key

from liveinspect.serving import Client, ServiceError
from liveinspect.serving.app import create_app
from liveinspect.serving.config import ServiceConfig

JFK = Path(__file__).resolve().parent / "data" / "jfk.flac"


@pytest.mark.slow
def test_audio_is_transcribed_with_timed_segments(tmp_path):
    config = ServiceConfig(
        data_dir=tmp_path, analyzers=("speech",), settings={"text": {"lexicon_only": True}}
    )
    key = add_key(tmp_path)
    with ThreadServer(create_app(config)) as server, Client(server.url, key.key) as client:
        result = client.check_audio(JFK, filename="jfk.flac")
        # Without the frame analyzer, images are refused plainly (501), not answered empty.
        with pytest.raises(ServiceError, match="without the frame analyzer") as refused:
            client.check_image(make_image(tmp_path / "bars.png"))
        assert refused.value.status == 501
    assert 10.5 <= result["duration_s"] <= 11.5
    assert "ask not what your country can do for you" in result["transcript"].lower()
    segments = result["segments"]
    assert segments and all(s["modality"] == "speech" and s["t_end"] <= 11.5 for s in segments)
    assert result["findings"] == [] and result["suggestion"] == "pass"
