"""The inventory HTTP API: a small FastAPI service with health and item endpoints."""

from __future__ import annotations

import threading

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from libs.common.settings import Settings


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=0)


class Item(ItemIn):
    id: int


class Inventory:
    """Thread-safe in-memory store; a real deployment would put a database here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, Item] = {}

    def add(self, item: ItemIn) -> Item:
        with self._lock:
            stored = Item(id=len(self._items) + 1, **item.model_dump())
            self._items[stored.id] = stored
            return stored

    def get(self, item_id: int) -> Item | None:
        return self._items.get(item_id)

    def all(self) -> list[Item]:
        return sorted(self._items.values(), key=lambda item: item.id)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="acme inventory", version=settings.release)
    inventory = Inventory()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service, "release": settings.release}

    @app.get("/v1/items")
    def list_items() -> list[Item]:
        return inventory.all()

    @app.post("/v1/items", status_code=201)
    def add_item(item: ItemIn) -> Item:
        return inventory.add(item)

    @app.get("/v1/items/{item_id}")
    def get_item(item_id: int) -> Item:
        item = inventory.get(item_id)
        if item is None:
            raise HTTPException(status_code=404, detail=f"no item {item_id}")
        return item

    return app
