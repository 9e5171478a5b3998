"""The app's shape: CORS, the OpenAPI document, body limits, S3 outputs through the routes."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from tests.service.conftest import make_settings, server, start_server, tryon_files  # noqa: F401


def test_cors_only_for_listed_origins(tmp_path, tiny_checkpoint):
    running = start_server(make_settings(tmp_path, tiny_checkpoint,
                                         cors_origins=["https://shop.example"]))
    try:
        with running.client() as c:
            ok = c.options("/v1/tryon", headers={"Origin": "https://shop.example",
                                                 "Access-Control-Request-Method": "POST"})
            assert ok.headers["access-control-allow-origin"] == "https://shop.example"
            bad = c.options("/v1/tryon", headers={"Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": "POST"})
            assert "access-control-allow-origin" not in bad.headers
    finally:
        running.stop()


def test_openapi_declares_every_status_code_and_the_enforced_limits(tmp_path, tiny_checkpoint):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, max_steps=50, max_samples=2))
    try:
        with running.client() as c:
            schema = c.get("/openapi.json").json()
            assert c.get("/docs").status_code == 200
    finally:
        running.stop()
    tryon = schema["paths"]["/v1/tryon"]["post"]
    assert {"200", "202", "401", "409", "413", "415", "422", "503"} <= set(tryon["responses"])
    assert "Problem" in schema["components"]["schemas"]
    assert "/vto" in schema["paths"] and "/generate" in schema["paths"]
    assert "/v1/jobs" in schema["paths"] and "/v1/models" in schema["paths"]
    ref = tryon["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    form = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]

    def bounds(name: str, fields: dict = form) -> tuple:
        return fields[name].get("minimum"), fields[name].get("maximum")

    # the documented bounds are the enforced ones: the settings narrowed vto's own
    assert bounds("num_inference_steps") == bounds("n_steps") == (1, 50)
    assert bounds("num_images_per_prompt") == (1, 2)
    assert bounds("guidance_scale") == (0.0, 20.0)
    ref = schema["paths"]["/generate"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"]["$ref"]
    generate = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]
    assert bounds("nSteps", generate) == (1, 50) and bounds("nSamples", generate) == (1, 2)


def test_s3_storage_outputs_redirect_to_presigned_urls(tmp_path, tiny_checkpoint):
    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = dict(aws_access_key_id="test-key", aws_secret_access_key="test-secret")
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     **creds).create_bucket(Bucket="vto-results")
        settings = make_settings(tmp_path, tiny_checkpoint, s3_bucket="vto-results",
                                 s3_endpoint_url=endpoint, s3_access_key="test-key",
                                 s3_secret_key="test-secret", s3_region="us-east-1")
        assert settings.storage == "s3"
        running = start_server(settings)
        try:
            running.wait_ready()
            with running.client() as c:
                job = c.post("/v1/tryon", files=tryon_files(),
                             headers={"Prefer": "wait=30"}).json()
                assert job["status"] == "succeeded", job
                url = job["outputs"][0]["url"]
                assert url.startswith(endpoint) and "X-Amz-Signature=" in url
                redirect = c.get(f"/v1/jobs/{job['id']}/outputs/0")
                assert redirect.status_code == 307
                image = httpx.get(redirect.headers["location"])
                assert image.status_code == 200
                assert Image.open(io.BytesIO(image.content)).format == "PNG"
        finally:
            running.stop()
    finally:
        moto.stop()


def test_framework_errors_have_vto_problem_types_and_405_lists_every_method(server):
    with server.client() as c:
        wrong = c.request("OPTIONS", "/v1/garments/shirt")  # GET and DELETE are two routes
        assert wrong.status_code == 405
        assert wrong.json()["type"] == "urn:vto:problem:method-not-allowed"
        assert set(wrong.headers["allow"].split(", ")) == {"GET", "DELETE"}
        missing = c.get("/no/such/route")
        assert missing.status_code == 404 and missing.json()["type"] == "urn:vto:problem:not-found"


def test_a_chunked_body_over_the_limit_is_a_413_problem(tmp_path, tiny_checkpoint):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, max_body_bytes=100_000))
    try:
        def chunks():
            # a well-formed start, so the multipart parser keeps reading the file part until
            # the limit stops it (a body invalid from its first bytes may be refused as a 400
            # before 100 kB have arrived: that made this test flaky)
            yield (b'--b\r\nContent-Disposition: form-data; name="person"; filename="p.png"\r\n'
                   b"Content-Type: image/png\r\n\r\n")
            for _ in range(50):
                yield b"x" * 10_000  # 500 kB, no Content-Length (chunked transfer)

        with running.client() as c:
            r = c.post("/v1/tryon", content=chunks(),
                       headers={"Content-Type": "multipart/form-data; boundary=b"})
            assert r.status_code == 413
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"] == "urn:vto:problem:request-too-large"
            sized = c.post("/v1/tryon", content=b"x" * 200_000,
                           headers={"Content-Type": "multipart/form-data; boundary=b"})
            assert sized.status_code == 413
            assert sized.json()["type"] == "urn:vto:problem:request-too-large"
    finally:
        running.stop()
