from fastapi.testclient import TestClient

from apps.api.app import create_app
from libs.common.settings import Settings


def client() -> TestClient:
    return TestClient(create_app(Settings("api", "test", "INFO", "1.2.3")))


def test_healthz_reports_release() -> None:
    response = client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "api", "release": "1.2.3"}


def test_add_list_and_get_items() -> None:
    api = client()
    created = api.post("/v1/items", json={"name": "bolt", "quantity": 12})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "name": "bolt", "quantity": 12}
    api.post("/v1/items", json={"name": "nut", "quantity": 3})
    assert [item["name"] for item in api.get("/v1/items").json()] == ["bolt", "nut"]
    assert api.get("/v1/items/2").json()["quantity"] == 3


def test_missing_item_is_404() -> None:
    response = client().get("/v1/items/99")
    assert response.status_code == 404
    assert response.json() == {"detail": "no item 99"}


def test_rejects_negative_quantity() -> None:
    response = client().post("/v1/items", json={"name": "bolt", "quantity": -1})
    assert response.status_code == 422
