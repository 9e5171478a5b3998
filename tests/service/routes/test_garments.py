"""v1 garments over HTTP, and a catalog garment's category driving a try-on's defaults."""

from __future__ import annotations

import pytest

from tests.service.conftest import make_settings, mask_png, png, start_server


def test_garments_crud_and_tryon_by_garment_id(server):
    with server.client() as c:
        r = c.post("/v1/garments", files={"image": ("blue-shirt.png", png(), "image/png")})
        assert r.status_code == 201, r.text
        garment = r.json()
        assert garment["category"] == "upper_body" and garment["category_source"] == "filename"
        listed = c.get("/v1/garments").json()["garments"]
        assert [g["id"] for g in listed] == [garment["id"]]
        thumb = c.get(garment["thumbnail_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        files = {"person_image": ("p.png", png(), "image/png"),
                 "mask": ("m.png", mask_png(), "image/png")}
        r = c.post("/v1/tryon", files=files, data={"garment_id": garment["id"]},
                   headers={"Prefer": "wait=30"})
        assert r.json()["status"] == "succeeded", r.text
        assert c.delete(f"/v1/garments/{garment['id']}").status_code == 204
        assert c.get(f"/v1/garments/{garment['id']}").status_code == 404


def test_a_catalog_garment_is_tried_on_as_what_it_is(server):
    files = {"person_image": ("p.png", png(), "image/png"),
             "mask": ("m.png", mask_png(), "image/png")}
    with server.client() as c:
        pants = c.post("/v1/garments", files={"image": ("pants.png", png(), "image/png")}).json()
        assert pants["category"] == "lower_body" and pants["model_types"] == ["dc"]
        job = c.post("/v1/tryon", files=files, data={"garment_id": pants["id"]}).json()
        assert (job["params"]["category"], job["params"]["model"]) == ("lower_body", "ootd-dc")
        contradiction = c.post("/v1/tryon", files=files,
                               data={"garment_id": pants["id"], "category": "upper_body"})
        assert contradiction.status_code == 422
        assert "lower_body" in contradiction.json()["detail"]
        assert "upper_body" in contradiction.json()["detail"]
        wrong_model = c.post("/v1/tryon", files=files,
                             data={"garment_id": pants["id"], "model_type": "hd"})
        assert wrong_model.status_code == 422 and "ootd-hd" in wrong_model.json()["detail"]


def test_an_unlabelled_upload_is_classified_by_the_worker(server):
    """Neither a form field nor the file name says what it is: the worker's engine predicts."""
    with server.client() as c:
        dark = c.post("/v1/garments",
                      files={"image": ("item-1.png", png(color=(10, 10, 10)), "image/png")})
        assert dark.status_code == 201, dark.text
        body = dark.json()
        assert (body["category"], body["category_source"]) == ("dress", "predicted")
        assert body["category_scores"]["dress"] > 0.5


ALICE, BOB, ADMIN = "alice-key-1", "bob-key-22", "admin-key-333"


def _as(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@pytest.fixture()
def keyed_server(tmp_path, tiny_checkpoint):
    """API keys for two tenants and one admin; an operator catalog of two garments."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "shirt_1.png").write_bytes(png())
    (catalog / "pants_2.png").write_bytes(png(color=(30, 30, 90)))
    running = start_server(make_settings(tmp_path, tiny_checkpoint, catalog=catalog,
                                         api_keys=[ALICE, BOB], admin_keys=[ADMIN],
                                         max_garments_per_key=2, rate_limit_per_min=60))
    running.wait_ready()
    yield running, catalog
    running.stop()


def test_only_an_admin_key_changes_the_operators_catalog(keyed_server):
    running, catalog = keyed_server
    with running.client() as c:
        listed = c.get("/v1/garments", headers=_as(ALICE)).json()["garments"]
        assert {(g["id"], g["scope"]) for g in listed} == {("shirt_1", "catalog"),
                                                           ("pants_2", "catalog")}
        refused = c.delete("/v1/garments/shirt_1", headers=_as(ALICE))
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "urn:vto:problem:forbidden"
        assert "VTO_ADMIN_KEYS" in refused.json()["detail"]
        assert (catalog / "shirt_1.png").is_file()

        added = c.post("/v1/garments", headers=_as(ADMIN),
                       files={"image": ("red-dress.png", png(), "image/png")})
        assert added.status_code == 201 and added.json()["scope"] == "catalog"
        assert added.json()["id"] == "red-dress" and added.json()["int_id"] is not None
        seen_by_bob = {g["id"] for g in c.get("/v1/garments", headers=_as(BOB)).json()["garments"]}
        assert "red-dress" in seen_by_bob
        assert c.delete("/v1/garments/shirt_1", headers=_as(ADMIN)).status_code == 204
        assert not (catalog / "shirt_1.png").exists()
        assert c.get("/v1/garments/shirt_1", headers=_as(BOB)).status_code == 404


def test_a_tenants_uploads_are_its_own(keyed_server):
    running, catalog = keyed_server
    files = {"person_image": ("p.png", png(), "image/png"),
             "mask": ("m.png", mask_png(), "image/png")}
    with running.client() as c:
        r = c.post("/v1/garments", headers=_as(ALICE),
                   files={"image": ("my-jeans.png", png(), "image/png")})
        assert r.status_code == 201, r.text
        mine = r.json()
        assert mine["scope"] == "private" and mine["int_id"] is None
        assert mine["id"].startswith("my-jeans-") and mine["category"] == "lower_body"
        assert mine["category_source"] == "filename"
        assert not (catalog / f"{mine['id']}.png").exists()  # not in the operator's directory
        ids = [g["id"] for g in c.get("/v1/garments", headers=_as(ALICE)).json()["garments"]]
        assert ids[-1] == mine["id"] and len(ids) == 3

        # Bob sees nothing of it, cannot use it, delete it or see its thumbnail without the token
        assert mine["id"] not in {g["id"] for g in
                                  c.get("/v1/garments", headers=_as(BOB)).json()["garments"]}
        assert c.get(f"/v1/garments/{mine['id']}", headers=_as(BOB)).status_code == 404
        assert c.delete(f"/v1/garments/{mine['id']}", headers=_as(BOB)).status_code == 404
        used = c.post("/v1/tryon", headers=_as(BOB), files=files, data={"garment_id": mine["id"]})
        assert used.status_code == 404, used.text
        bare = f"/v1/garments/{mine['id']}/thumbnail"
        assert c.get(bare).status_code == 404
        assert c.get(bare + "?token=anonymous." + "0" * 32).status_code == 404
        thumb = c.get(mine["thumbnail_url"])  # the token in the URL: an <img> tag can show it
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert thumb.headers["cache-control"].startswith("private")

        job = c.post("/v1/tryon", headers=_as(ALICE), files=files,
                     data={"garment_id": mine["id"]})
        assert job.status_code == 202, job.text
        assert (job.json()["params"]["category"], job.json()["params"]["model"]) == (
            "lower_body", "ootd-dc")

        # at most max_garments_per_key (2) each
        second = c.post("/v1/garments", headers=_as(ALICE),
                        files={"image": ("top.png", png(), "image/png")})
        assert second.status_code == 201
        third = c.post("/v1/garments", headers=_as(ALICE),
                       files={"image": ("coat.png", png(), "image/png")})
        assert third.status_code == 409 and "delete some" in third.json()["detail"]
        assert c.post("/v1/garments", headers=_as(BOB),
                      files={"image": ("coat.png", png(), "image/png")}).status_code == 201

        assert c.delete(f"/v1/garments/{mine['id']}", headers=_as(ALICE)).status_code == 204
        assert c.get(f"/v1/garments/{mine['id']}", headers=_as(ALICE)).status_code == 404


def test_without_admin_keys_the_catalog_cannot_be_changed_over_http(tmp_path, tiny_checkpoint):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "shirt_1.png").write_bytes(png())
    running = start_server(make_settings(tmp_path, tiny_checkpoint, catalog=catalog))
    try:
        running.wait_ready()
        with running.client() as c:
            r = c.delete("/v1/garments/shirt_1")
            assert r.status_code == 403 and "VTO_ADMIN_KEYS" in r.json()["detail"]
            assert (catalog / "shirt_1.png").is_file()
            added = c.post("/v1/garments", files={"image": ("cap.png", png(), "image/png")})
            assert added.status_code == 201 and added.json()["scope"] == "private"
            assert not any(p.name.startswith("cap") for p in catalog.iterdir())
    finally:
        running.stop()


def test_garment_uploads_count_against_the_rate_limit(tmp_path, tiny_checkpoint):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, api_keys=[ALICE],
                                         rate_limit_per_min=2))
    try:
        running.wait_ready()
        with running.client() as c:
            def upload() -> int:
                return c.post("/v1/garments", headers=_as(ALICE),
                              files={"image": ("top.png", png(), "image/png")}).status_code
            assert [upload(), upload()] == [201, 201]
            r = c.post("/v1/garments", headers=_as(ALICE),
                       files={"image": ("top.png", png(), "image/png")})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        running.stop()


def test_garment_uploads_wait_for_the_decode_budget(tmp_path, tiny_checkpoint):
    """While other uploads fill the server's decode budget, an upload waits, then gets 503."""
    running = start_server(make_settings(tmp_path, tiny_checkpoint, max_pixels=100_000,
                                         max_decode_pixels=100_000, decode_wait_s=0.2))
    try:
        running.wait_ready()
        big = png(size=(300, 300))  # 90,000 pixels: two do not fit at once
        with running.client() as c, running.services.decoding.hold(big):
            r = c.post("/v1/garments", files={"image": ("top.png", big, "image/png")})
            assert r.status_code == 503, r.text
            assert int(r.headers["retry-after"]) >= 1
        with running.client() as c:  # the budget is free again
            r = c.post("/v1/garments", files={"image": ("top.png", big, "image/png")})
            assert r.status_code == 201, r.text
    finally:
        running.stop()
