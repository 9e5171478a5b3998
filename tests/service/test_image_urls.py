"""Image references (vto.service.image_urls): data: URIs, and http(s) fetching under the SSRF,
size and time rules. The network is replaced (httpx.MockTransport + a resolver stub): nothing
here leaves the process; the SSRF refusals are tested on the check itself, before any
connection (the transport records that none was made)."""

from __future__ import annotations

import base64

import httpx
import pytest

from vto.errors import InvalidInput
from vto.service.image_urls import ImageFetcher, is_reference

PUBLIC = "93.184.216.34"   # a global address: only ever handed to the mock transport
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Recorder:
    """A mock transport answering from a table of URL -> response, recording every request."""

    def __init__(self, answers: dict[str, httpx.Response]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.get(str(request.url), httpx.Response(404))


def fetcher(recorder: Recorder, *, hosts: dict[str, str] | None = None, max_bytes: int = 1000,
            allow_private: bool = False, timeout_s: float = 5.0, clock=None) -> ImageFetcher:
    table = {"shop.example": PUBLIC, "cdn.example": "93.184.216.35",
             "internal.example": "10.0.0.7", "metadata.example": "169.254.169.254",
             **(hosts or {})}

    def resolve(host: str) -> list[str]:
        if host in table:
            return [table[host]]
        return [host.strip("[]")]  # address literals
    kwargs = {"clock": clock} if clock else {}
    return ImageFetcher(allow_private=allow_private, timeout_s=timeout_s, max_bytes=max_bytes,
                        resolve=resolve, transport=httpx.MockTransport(recorder), **kwargs)


def data_uri(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64," + base64.b64encode(data).decode()


# --- data: URIs ---------------------------------------------------------------------------------

def test_data_uris_base64_and_percent_encoded():
    f = fetcher(Recorder({}))
    assert f.fetch(data_uri(PNG), field="person_image") == PNG
    assert f.fetch("data:image/png,%89PNG%0D%0A", field="mask") == b"\x89PNG\r\n"
    assert f.fetch(data_uri(PNG, "image/png;name=a.png"), field="mask") == PNG


@pytest.mark.parametrize("uri, message", [
    ("data:text/plain;base64,aGVsbG8=", "not of an image"),
    ("data:image/png;base64,@@@@", "base64 is broken"),
    ("data:image/png;base64", "no comma"),
    ("data:image/png;base64,", "empty"),
])
def test_bad_data_uris_name_the_field(uri, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        fetcher(Recorder({})).fetch(uri, field="garment_image")
    assert caught.value.extra["field"] == "garment_image"
    assert "garment_image" in str(caught.value)


def test_data_uri_over_the_limit_is_refused_before_decoding():
    with pytest.raises(InvalidInput, match="larger than 1000 bytes"):
        fetcher(Recorder({})).fetch(data_uri(b"x" * 2000), field="person_image")


def test_only_http_https_and_data_are_references():
    assert is_reference("https://a/b") and is_reference("DATA:image/png,x")
    assert not is_reference("file:///etc/passwd") and not is_reference("/etc/passwd")
    for bad in ("file:///etc/passwd", "ftp://shop.example/a.png", "gopher://x", "shirt.png"):
        with pytest.raises(InvalidInput, match="http\\(s\\) URL or a data: URI"):
            fetcher(Recorder({})).fetch(bad, field="person_image")


# --- http(s) ------------------------------------------------------------------------------------

def test_fetch_connects_to_the_checked_address_with_the_host_header():
    recorder = Recorder({f"https://{PUBLIC}/p.png": httpx.Response(200, content=PNG)})
    assert fetcher(recorder).fetch("https://shop.example/p.png", field="person_image") == PNG
    (request,) = recorder.requests
    assert request.url.host == PUBLIC                      # pinned to the checked address
    assert request.headers["host"] == "shop.example"
    assert request.extensions["sni_hostname"] == "shop.example"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/p.png", "http://[::1]/p.png", "http://10.1.2.3/p.png",
    "http://internal.example/p.png", "http://metadata.example/latest/meta-data",
    "http://[::ffff:10.0.0.1]/p.png", "http://[64:ff9b::a00:1]/p.png",
    "http://user:secret@shop.example/p.png",
])
def test_private_targets_are_refused_before_connecting(url):
    recorder = Recorder({})
    with pytest.raises(InvalidInput) as caught:
        fetcher(recorder).fetch(url, field="person_image")
    assert caught.value.extra["field"] == "person_image"
    assert recorder.requests == []


def test_a_redirect_to_a_private_address_is_refused():
    recorder = Recorder({
        f"https://{PUBLIC}/p.png": httpx.Response(
            302, headers={"location": "http://internal.example/secret.png"})})
    with pytest.raises(InvalidInput, match="private, loopback or link-local"):
        fetcher(recorder).fetch("https://shop.example/p.png", field="garment_image")
    assert [r.url.host for r in recorder.requests] == [PUBLIC]  # the private one never called


def test_redirects_to_public_hosts_are_followed_and_checked_again():
    recorder = Recorder({
        f"https://{PUBLIC}/p.png": httpx.Response(301, headers={"location": "https://cdn.example/x.png"}),
        "https://93.184.216.35/x.png": httpx.Response(200, content=PNG)})
    assert fetcher(recorder).fetch("https://shop.example/p.png", field="person_image") == PNG
    assert recorder.requests[1].headers["host"] == "cdn.example"


def test_redirect_loops_end():
    recorder = Recorder({f"https://{PUBLIC}/p.png": httpx.Response(
        302, headers={"location": "/p.png"})})
    with pytest.raises(InvalidInput, match="redirects more than 3 times"):
        fetcher(recorder).fetch("https://shop.example/p.png", field="person_image")
    assert len(recorder.requests) == 4


def test_allow_private_lets_loopback_through():
    recorder = Recorder({"http://127.0.0.1:9/p.png": httpx.Response(200, content=PNG)})
    assert fetcher(recorder, allow_private=True).fetch("http://127.0.0.1:9/p.png",
                                                       field="mask") == PNG


@pytest.mark.parametrize("response, message", [
    (httpx.Response(200, content=b"x" * 1001), "larger than 1000 bytes"),      # declared
    (httpx.Response(200, content=iter([b"x" * 600, b"x" * 600])), "larger than"),  # streamed
    (httpx.Response(404), "answered HTTP 404"),
    (httpx.Response(200, content=b""), "empty body"),
])
def test_size_and_status_limits(response, message):
    recorder = Recorder({f"https://{PUBLIC}/p.png": response})
    with pytest.raises(InvalidInput, match=message):
        fetcher(recorder).fetch("https://shop.example/p.png", field="person_image")


def test_the_time_limit_covers_the_whole_download():
    now = [0.0]

    def slow_body():
        for _ in range(5):
            now[0] += 2.0           # each chunk "takes" 2 s of the 5 s allowed
            yield b"x" * 10
    recorder = Recorder({f"https://{PUBLIC}/p.png": httpx.Response(200, content=slow_body())})
    with pytest.raises(InvalidInput, match="within 5 s"):
        fetcher(recorder, clock=lambda: now[0]).fetch("https://shop.example/p.png",
                                                      field="person_image")


def test_transport_errors_are_one_sentence():
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)
    f = ImageFetcher(allow_private=False, timeout_s=1, max_bytes=10,
                     resolve=lambda host: [PUBLIC], transport=httpx.MockTransport(broken))
    with pytest.raises(InvalidInput, match="could not be fetched \\(ConnectError\\)"):
        f.fetch("https://shop.example/p.png", field="person_image")
