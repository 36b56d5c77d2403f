"""The frozen Document: its indexes are derived from its fields, with nothing for a caller to reset."""

from __future__ import annotations

import copy
import dataclasses
import pickle

from metricsense.model import KPI, Document, Lever
from metricsense.syntax import parse_text

SPEC = 'lever deploys "Deploys"\nlever ops\nkpi a { kind outcome }\nkpi b { kind input }\n'


def _doc() -> Document:
    parsed = parse_text(SPEC, "x.msense")
    return Document(tuple(parsed.statements), ("x.msense",))


def test_a_document_has_only_its_own_fields():
    assert [f.name for f in dataclasses.fields(Document)] == ["statements", "files", "suppressions", "root"]


def test_the_indexes_read_the_statements():
    doc = _doc()
    assert [k.name for k in doc.kpis] == ["a", "b"] and [x.name for x in doc.levers] == ["deploys", "ops"]
    assert doc.missions == () and doc.mission is None and doc.triggers == ()
    assert doc.lookup("ops") is doc.levers[1] and doc.lookup("nope") is None


def test_replace_makes_a_document_with_its_own_indexes():
    doc = _doc()
    assert doc.kpis and doc.lookup("a") is not None  # the indexes are computed now
    kept = tuple(s for s in doc.statements if not (isinstance(s, KPI) and s.name == "a"))
    smaller = dataclasses.replace(doc, statements=kept)
    assert [k.name for k in smaller.kpis] == ["b"] and smaller.lookup("a") is None
    assert [k.name for k in doc.kpis] == ["a", "b"]  # the original is as it was


def test_the_indexes_are_not_part_of_equality_or_copies():
    doc, fresh = _doc(), _doc()
    doc.levers, doc.lookup("a")
    assert doc == fresh and hash(doc.files) == hash(fresh.files)
    assert "_by_type" in vars(doc) and "_by_type" not in vars(pickle.loads(pickle.dumps(doc)))
    for twin in (copy.copy(doc), pickle.loads(pickle.dumps(doc))):
        assert twin == doc and [x.name for x in twin.levers] == ["deploys", "ops"]
        assert isinstance(twin.lookup("deploys"), Lever)
