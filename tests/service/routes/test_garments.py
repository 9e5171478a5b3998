"""v1 garments over HTTP, and a catalog garment's category driving a try-on's defaults."""

from __future__ import annotations

from tests.service.conftest import mask_png, png


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
