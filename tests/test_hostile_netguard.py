"""Row 8 of issue 9: every network fetch is filtered by address after DNS resolution."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from liveinspect.errors import MediaError, UnsafeSourceError
from liveinspect.media.netguard import address_problem, check_source_url, check_url


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/live.m3u8",
    "http://localhost:8080/a.ts",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",          # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/x",
    "http://[2002:7f00:1::]/x",             # 6to4 around loopback
    "http://0x7f.1/x",                      # inet_aton spellings of 127.0.0.1
    "http://2130706433/x",
    "http://0.0.0.0/x",
    "http://10.0.0.5/x", "http://172.16.3.4/x", "http://192.168.1.1/x",
    "http://169.254.10.10/x", "http://[fe80::1]/x",
    "http://224.0.0.1/x", "http://240.0.0.1/x",
    "http://100.64.1.1/x",                  # carrier-grade NAT
    "rtmp://127.0.0.1/live/key",
])
def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeSourceError) as caught:
        check_source_url(url)
    message = str(caught.value)
    assert url in message and "refusing" in message


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://100.100.100.200/",
                                 "http://[fd00:ec2::254]/", "http://[64:ff9b::a9fe:a9fe]/"])
def test_metadata_endpoints_stay_refused_with_allow_private(url: str) -> None:
    with pytest.raises(UnsafeSourceError, match="metadata"):
        check_source_url(url, allow_private=True)


def test_allow_private_admits_loopback() -> None:
    checked = check_url("http://127.0.0.1:9/x.m3u8", allow_private=True)
    assert checked.addresses == (ipaddress.ip_address("127.0.0.1"),) and checked.port == 9


def test_public_address_passes_without_dns() -> None:
    assert check_url("https://8.8.8.8/x").port == 443
    assert address_problem(ipaddress.ip_address("2001:4860:4860::8888")) is None


def test_host_resolving_to_any_private_address_is_refused(monkeypatch) -> None:
    # A resolver may return a public and a private address; FFmpeg could use either.
    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(UnsafeSourceError, match=r"10\.1\.2\.3 \(host 'cdn\.example' resolves to it\)"):
        check_source_url("https://cdn.example/live.m3u8")


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/x", "file:///etc/passwd", "gopher://8.8.8.8/",
                                 "http:///nohost", "http://8.8.8.8:99999/", "http://a b/",
                                 "http://8.8.8.8\\@127.0.0.1/"])
def test_bad_schemes_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeSourceError):
        check_source_url(url)


def test_unresolvable_host_is_a_media_error(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(MediaError, match="cannot resolve") as caught:
        check_source_url("http://nowhere.invalid/x")
    assert not isinstance(caught.value, UnsafeSourceError)
