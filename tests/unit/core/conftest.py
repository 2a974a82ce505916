"""Runs every contract test once per book implementation, so they cannot drift apart."""

from __future__ import annotations

import pytest
from book_helpers import IMPLEMENTATIONS, INSTRUMENT, BookFactory, Session


@pytest.fixture(
    params=[
        pytest.param(
            factory,
            id=name,
            marks=pytest.mark.skipif(factory is None, reason=f"the {name} core is not built"),
        )
        for name, factory in IMPLEMENTATIONS.items()
    ]
)
def book_factory(request: pytest.FixtureRequest) -> BookFactory:
    """A callable that builds an empty book of one implementation for an instrument."""
    factory: BookFactory = request.param
    return factory


@pytest.fixture
def session(book_factory: BookFactory) -> Session:
    """A scripted session on an empty book for ``book_helpers.INSTRUMENT``."""
    return Session(book_factory(INSTRUMENT))
