"""POST /v1/tryon with a JSON body: images by URL (fetched from a loopback server: the test
settings allow private targets, as a deployment may) or as data: URIs, the Cog envelope, the
same validation and answers as the form. The SSRF refusals themselves are tested on the check
(tests/service/test_image_urls.py); here a server that does not allow private targets refuses a
loopback URL without fetching it."""

from __future__ import annotations

import base64
import http.server
import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.service.conftest import make_settings, mask_png, png, start_server, wait_for


class ImageHost:
    """A loopback HTTP server answering from a table of path -> (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                host.requests.append(self.path)
                status, headers, body = host.routes.get(self.path, (404, {}, b"no"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, path: str, body: bytes, status: int = 200,
            headers: dict[str, str] | None = None) -> str:
        self.routes[path] = (status, {"Content-Type": "image/png", **(headers or {})}, body)
        return self.url + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def host() -> Iterator[ImageHost]:
    running = ImageHost()
    yield running
    running.close()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_urls_and_data_uris_run_like_uploads(server, host):
    person = host.add("/person.png", png(color=(200, 120, 80)))
    garment = host.add("/garment.png", png(color=(20, 40, 220)))
    with server.client() as c:
        r = c.post("/v1/tryon", json={"person_image": person, "garment_image": garment,
                                      "mask": data_uri(mask_png()), "num_inference_steps": 2,
                                      "seed": 7})
        assert r.status_code == 202, r.text
        assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
        job = wait_for(c, r.json()["id"])
        assert job["status"] == "succeeded" and job["seed"] == 7, job
        assert job["params"]["num_inference_steps"] == 2
        image = Image.open(io.BytesIO(c.get(job["outputs"][0]["url"]).content))
        assert image.size == (96, 128)
    assert sorted(host.requests) == ["/garment.png", "/person.png"]


def test_cog_envelope_older_names_and_prefer_wait(server):
    with server.client() as c:
        r = c.post("/v1/tryon", headers={"Prefer": "wait=30"},
                   json={"input": {"person_image": data_uri(png()),
                                   "garment_image": data_uri(png(color=(1, 2, 3))),
                                   "n_steps": 2, "n_samples": 2, "seed": 3}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "succeeded" and len(body["outputs"]) == 2
        assert body["params"]["num_images_per_prompt"] == 2


def test_same_validation_as_the_form(server):
    with server.client() as c:
        def post(**fields):
            return c.post("/v1/tryon", json={"person_image": data_uri(png()),
                                             "garment_image": data_uri(png()), **fields})
        unknown = post(steps_count=2)
        assert unknown.status_code == 422 and "steps_count" in unknown.json()["detail"]
        assert unknown.json()["field"] == "steps_count"
        both = post(n_steps=2, num_inference_steps=3)
        assert both.status_code == 422 and "num_inference_steps" in both.json()["detail"]
        limit = post(guidance_scale=25)
        assert limit.status_code == 422 and "guidance_scale" in limit.json()["detail"]
        category = post(category="dress")
        assert category.status_code == 422 and category.json()["field"] == "category"
        no_person = c.post("/v1/tryon", json={"garment_image": data_uri(png())})
        assert no_person.status_code == 422 and "person_image" in no_person.json()["detail"]
        two_garments = post(garment_id="blue-shirt")
        assert two_garments.status_code == 422
        envelope_extra = c.post("/v1/tryon", json={"input": {}, "version": "abc"})
        assert envelope_extra.status_code == 422 and "version" in envelope_extra.json()["detail"]
        not_an_image = c.post("/v1/tryon", json={"person_image": "data:image/png;base64,"
                                                 + base64.b64encode(b"hello").decode(),
                                                 "garment_image": data_uri(png())})
        assert not_an_image.status_code == 415, not_an_image.text
        not_json = c.post("/v1/tryon", content=b"{oops", headers={"content-type":
                                                                  "application/json"})
        assert not_json.status_code == 422 and "JSON" in not_json.json()["detail"]
        array = c.post("/v1/tryon", json=[1, 2])
        assert array.status_code == 422 and "object" in array.json()["detail"]
        scheme = post(mask="file:///etc/passwd")
        assert scheme.status_code == 422 and scheme.json()["field"] == "mask"


def test_fetch_failures_name_the_field(server, host):
    missing = host.url + "/nothing.png"
    with server.client() as c:
        r = c.post("/v1/tryon", json={"person_image": missing, "garment_image": data_uri(png())})
        assert r.status_code == 422 and r.json()["field"] == "person_image"
        assert "HTTP 404" in r.json()["detail"]


def test_idempotency_key_replays_the_json_submission(server):
    body = {"person_image": data_uri(png()), "garment_image": data_uri(png(color=(9, 9, 9))),
            "seed": 1}
    with server.client() as c:
        first = c.post("/v1/tryon", json=body, headers={"Idempotency-Key": "json-1"})
        again = c.post("/v1/tryon", json=body, headers={"Idempotency-Key": "json-1"})
        assert first.status_code == 202 and again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"


def test_a_server_without_private_targets_does_not_fetch_loopback(tmp_path, tiny_checkpoint,
                                                                   host):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, webhook_allow_private=False))
    try:
        running.wait_ready()
        url = host.add("/person.png", png())
        with running.client() as c:
            r = c.post("/v1/tryon", json={"person_image": url, "garment_image": data_uri(png())})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "person_image" and "private" in r.json()["detail"]
        assert host.requests == []
    finally:
        running.stop()


def test_the_openapi_document_declares_both_bodies(server):
    with server.client() as c:
        operation = c.get("/openapi.json").json()["paths"]["/v1/tryon"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json"}
    flat, envelope = content["application/json"]["schema"]["oneOf"]
    assert flat["additionalProperties"] is False and "person_image" in flat["required"]
    assert envelope["properties"]["input"] == flat
