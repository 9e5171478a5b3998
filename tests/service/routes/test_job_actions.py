"""DELETE /v1/jobs/{id} (finished jobs of this key, with their stored files) and
POST /v1/jobs/{id}/rerun (the stored inputs again, same settings and seed)."""

from __future__ import annotations

import pytest

from tests.service.conftest import make_settings, start_server, tryon_files, wait_for


@pytest.fixture()
def keyed_server(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("VTO_FAKE_STEP_S", "0.2")
    running = start_server(make_settings(tmp_path, tiny_checkpoint,
                                         api_keys=["key-one-123", "key-two-456"]))
    running.wait_ready()
    yield running
    running.stop()


def keys(running, key):
    return running.client(headers={"X-API-Key": key})


def stored(running, job_id):
    return [key for key, _ in running.services.storage.list_keys() if f"/{job_id}/" in key]


def test_delete_removes_a_finished_job_and_its_files(keyed_server):
    with keys(keyed_server, "key-one-123") as c:
        job_id = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "1"},
                        headers={"Prefer": "wait=30"}).json()["id"]
        assert wait_for(c, job_id)["status"] == "succeeded"
        assert any(k.startswith("results/") for k in stored(keyed_server, job_id))
        assert any(k.startswith("inputs/") for k in stored(keyed_server, job_id))
        with keys(keyed_server, "key-two-456") as other:
            assert other.delete(f"/v1/jobs/{job_id}").status_code == 404  # not theirs
        r = c.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 204, r.text
        assert c.get(f"/v1/jobs/{job_id}").status_code == 404
        assert job_id not in [j["id"] for j in c.get("/v1/jobs").json()["jobs"]]
        assert stored(keyed_server, job_id) == []
        assert c.delete(f"/v1/jobs/{job_id}").status_code == 404


def test_a_running_job_is_not_deleted(keyed_server):
    with keys(keyed_server, "key-one-123") as c:
        job_id = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "50"}).json()["id"]
        r = c.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 409 and "cancel it first" in r.json()["detail"]
        c.post(f"/v1/jobs/{job_id}/cancel")
        assert wait_for(c, job_id)["status"] == "canceled"
        assert c.delete(f"/v1/jobs/{job_id}").status_code == 204


def test_rerun_gives_the_same_images_with_the_same_seed(keyed_server):
    with keys(keyed_server, "key-one-123") as c:
        first = c.post("/v1/tryon", files=tryon_files(),
                       data={"n_steps": "2", "seed": "-1", "n_samples": "2"},
                       headers={"Prefer": "wait=30"}).json()
        assert first["status"] == "succeeded"
        r = c.post(f"/v1/jobs/{first['id']}/rerun", headers={"Prefer": "wait=30"})
        assert r.status_code == 200, r.text
        again = r.json()
        assert again["id"] != first["id"] and again["seed"] == first["seed"]
        for name in ("model", "category", "num_inference_steps", "guidance_scale",
                     "num_images_per_prompt", "framing"):
            assert again["params"][name] == first["params"][name], name
        assert len(first["outputs"]) == len(again["outputs"]) == 2
        for a, b in zip(first["outputs"], again["outputs"], strict=True):
            assert c.get(a["url"]).content == c.get(b["url"]).content
        with keys(keyed_server, "key-two-456") as other:
            assert other.post(f"/v1/jobs/{first['id']}/rerun").status_code == 404


def test_rerun_of_a_job_whose_inputs_expired_says_so(keyed_server):
    with keys(keyed_server, "key-one-123") as c:
        job = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "1"},
                     headers={"Prefer": "wait=30"}).json()
        keyed_server.services.storage.delete_prefix(f"inputs/{job['id']}/")
        r = c.post(f"/v1/jobs/{job['id']}/rerun")
        assert r.status_code == 404 and "no longer stored" in r.json()["detail"]
