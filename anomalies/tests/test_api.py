import pytest
from django.contrib.auth.models import Permission

from anomalies import services
from anomalies.models import DetectorSettings, Finding, Run, TrainedModel

FAST = {"iforest_n_estimators": 20}


@pytest.fixture
def trained(shop):
    services.start_runs(
        "train", ["activity", "order"], parameters=FAST, background=False
    )


@pytest.fixture
def finding(trained):
    services.start_runs("detect", ["order"], ["statistical_zscore"], background=False)
    return Finding.objects.first()


def test_train_answers_202_with_run_ids(staff_client, shop, monkeypatch):
    queued = []
    monkeypatch.setattr(services, "_enqueue", queued.append)
    response = staff_client.post(
        "/api/anomalies/train",
        {"limit": 10000, "z_threshold": 3.0, "entity_type": "activity"},
        format="json",
    )
    assert response.status_code == 202
    assert len(response.json()["run_ids"]) == 3
    assert [run.pk for run in queued] == response.json()["run_ids"]
    assert response.json()["message"] == "Queued 3 training runs."


def test_detect_inline_counts_by_algorithm(staff_client, trained):
    response = staff_client.post(
        "/api/anomalies/detect",
        {
            "entity_type": "order",
            "algorithms": ["statistical_zscore", "dbscan"],
            "limit": 10000,
            "z_threshold": 3.0,
            "dbscan_eps": 0.5,
            "dbscan_min_samples": 5,
        },
        format="json",
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body["anomalies_saved_by_algorithm"]) == {"statistical_zscore", "dbscan"}
    assert body["anomalies_saved_by_algorithm"]["statistical_zscore"] >= 1
    assert len(body["run_ids"]) == 2
    assert "message" in body


def test_detect_background_answers_202(staff_client, trained, monkeypatch):
    monkeypatch.setattr(services, "_enqueue", lambda run: None)
    response = staff_client.post(
        "/api/anomalies/detect",
        {
            "entity_type": "order",
            "algorithms": ["statistical_zscore"],
            "background": True,
        },
        format="json",
    )
    assert response.status_code == 202
    assert response.json()["message"] == "Queued 1 detection run."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entity_type": "users"}, "entity_type"),
        ({"algorithms": ["kmeans"]}, "algorithms"),
        ({"limit": -5}, "limit"),
        ({"max_train_rows": 10}, "max_train_rows"),
        ({"z_threshold": "high"}, "z_threshold"),
        ({"dbscan_min_samples": 1}, "dbscan_min_samples"),
        ({"turbo": True}, "turbo"),
    ],
)
def test_train_bad_input_400(staff_client, db, body, field):
    response = staff_client.post("/api/anomalies/train", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Run.objects.count() == 0


def test_detect_before_training_400(staff_client, shop):
    response = staff_client.post(
        "/api/anomalies/detect", {"entity_type": "order"}, format="json"
    )
    assert response.status_code == 400
    assert "train it first" in str(response.json()["algorithms"])


def test_train_needs_staff(reader_client, db):
    response = reader_client.post("/api/anomalies/train", {}, format="json")
    assert response.status_code == 403


def test_findings_need_login(api_client, db):
    assert api_client.get("/api/anomalies/").status_code in (401, 403)


def test_findings_list_filters(reader_client, finding):
    response = reader_client.get(
        "/api/anomalies/", {"entity_type": "order", "severity": finding.severity}
    )
    assert response.status_code == 200
    assert response.json()["count"] >= 1


def test_findings_unknown_filter_400(reader_client, db):
    assert reader_client.get("/api/anomalies/", {"sevrity": "high"}).status_code == 400


def test_finding_detail_has_context(reader_client, finding):
    body = reader_client.get(f"/api/anomalies/{finding.pk}/").json()
    assert body["context"]["id"] == finding.entity_id
    assert body["explanation"] == finding.explanation


def test_review_needs_permission(reader_client, finding):
    response = reader_client.patch(
        f"/api/anomalies/{finding.pk}/", {"review_status": "confirmed"}, format="json"
    )
    assert response.status_code == 403


def test_review_with_change_permission(reader_user, reader_client, finding):
    reader_user.user_permissions.add(Permission.objects.get(codename="change_finding"))
    response = reader_client.patch(
        f"/api/anomalies/{finding.pk}/", {"review_status": "confirmed"}, format="json"
    )
    finding.refresh_from_db()
    assert response.status_code == 200
    assert finding.review_status == "confirmed"
    assert finding.reviewed_by == reader_user


def test_review_rejects_unknown_status(staff_client, finding):
    response = staff_client.patch(
        f"/api/anomalies/{finding.pk}/", {"review_status": "maybe"}, format="json"
    )
    assert response.status_code == 400


def test_runs_list_and_detail(reader_client, trained):
    runs = reader_client.get("/api/runs/", {"kind": "train"}).json()
    assert runs["count"] == 6
    detail = reader_client.get(f"/api/runs/{runs['results'][0]['id']}/").json()
    assert detail["status"] == "succeeded"


def test_settings_get(reader_client, db):
    assert reader_client.get("/api/settings/").json()["z_threshold"] == 3.0


def test_settings_put_by_staff(staff_client, db):
    response = staff_client.put("/api/settings/", {"z_threshold": 4.5}, format="json")
    assert response.status_code == 200
    assert DetectorSettings.load().z_threshold == 4.5


def test_settings_put_out_of_range(staff_client, db):
    response = staff_client.put("/api/settings/", {"dbscan_eps": 0}, format="json")
    assert response.status_code == 400
    assert "dbscan_eps" in response.json()


def test_settings_put_needs_staff(reader_client, db):
    response = reader_client.put("/api/settings/", {"z_threshold": 4}, format="json")
    assert response.status_code == 403


def test_model_activate_switches_back(staff_client, trained):
    services.start_runs("train", ["order"], ["dbscan"], background=False)
    old = TrainedModel.objects.filter(detector="dbscan", entity_type="order").last()
    response = staff_client.post(f"/api/models/{old.pk}/activate/")
    old.refresh_from_db()
    assert response.status_code == 200
    assert old.is_active


def test_settings_put_unknown_field(staff_client, db):
    response = staff_client.put("/api/settings/", {"z_treshold": 2.0}, format="json")
    assert response.status_code == 400
    assert "Unknown field 'z_treshold'" in response.json()["z_treshold"][0]
