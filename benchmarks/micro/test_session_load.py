"""Loading a 20-key session from a store and judging it modified after a view read one key
(a store's ``load`` and the ``snapshot`` the middleware takes after the view), against
Django's own db engine doing the same load."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore as DjangoDbStore

from sessionkit.backends.db import SessionStore as DbStore
from sessionkit.backends.memory import SessionStore as MemoryStore

STORES = {"sessionkit-memory": MemoryStore, "sessionkit-db": DbStore, "django-db": DjangoDbStore}
SESSIONKIT_STORES = ["sessionkit-memory", "sessionkit-db"]


def _saved(store_class: type[SessionBase], data: dict[str, str]) -> str:
    store = store_class()
    store.update(data)
    store.save()
    assert store.session_key is not None
    return store.session_key


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(STORES))
def test_load(benchmark: Any, name: str, twenty_keys: dict[str, str]) -> None:
    store_class = STORES[name]
    key = _saved(store_class, twenty_keys)
    data = benchmark(lambda: store_class(key).load())
    assert data == twenty_keys


@pytest.mark.django_db
@pytest.mark.parametrize("name", SESSIONKIT_STORES)
def test_judge_modified_after_one_read(
    benchmark: Any, name: str, twenty_keys: dict[str, str]
) -> None:
    """The snapshot after a view that read one key: is there anything to write?"""
    store = STORES[name](_saved(STORES[name], twenty_keys))
    assert store.get("k0") == twenty_keys["k0"]
    snapshot = benchmark(store.snapshot, time.time())  # type: ignore[attr-defined]
    assert not snapshot.unsaved


@pytest.mark.django_db
@pytest.mark.parametrize("name", SESSIONKIT_STORES)
def test_judge_modified_after_one_write(
    benchmark: Any, name: str, twenty_keys: dict[str, str]
) -> None:
    store = STORES[name](_saved(STORES[name], twenty_keys))
    store["w"] = "written"
    snapshot = benchmark(store.snapshot, time.time())  # type: ignore[attr-defined]
    assert snapshot.unsaved


@pytest.mark.django_db
@pytest.mark.parametrize("name", SESSIONKIT_STORES)
def test_read_one_key_request(benchmark: Any, name: str, twenty_keys: dict[str, str]) -> None:
    """A read request's whole session work minus HTTP: open, load, read a key, judge."""
    store_class = STORES[name]
    key = _saved(store_class, twenty_keys)

    def request() -> Any:
        store = store_class(key)
        store.get("k0")
        return store.snapshot(time.time())  # type: ignore[attr-defined]

    assert not benchmark(request).unsaved
