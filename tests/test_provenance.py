"""Every disclosure event says how it was made: each transform's effective parameters
(defaults included), the versions of the tables it used, the veil release and the views
in force, so a rule that reads ``generalize(method='zip3')`` today can be audited later."""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

from veil.core import Veil
from veil.keys import Keyring
from veil.policy.testing import MemoryLedger
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.samples.synth import patients

ROOT = Path(__file__).resolve().parent.parent


def test_event_records_parameters_tables_version_and_views() -> None:
    veil = Veil(load_bundle(str(ROOT / "policies" / "health")), MemoryLedger(), Keyring.demo())
    req = Request(
        subject_id="r1",
        subject={"role": "researcher", "org": "university"},
        purpose="HRESCH",
        dataset="patients",
        recipient="outcomes-registry",
    )
    recs = [dict(r, consent_research=True) for r in patients(5, seed=2)]
    event = veil.sanitize(req, recs).event.event
    zip_field = event.fields["zip"]
    assert zip_field.params == {"method": "zip3", "table": "hipaa-census-2000", "restricted": None}
    table = (ROOT / "src/veil/data/zip3/hipaa-census-2000.yaml").read_bytes()
    want = "hipaa-census-2000@2000:sha256:" + hashlib.sha256(table).hexdigest()[:16]
    assert zip_field.tables == {"zip3": want}
    birth = event.fields["birth_date"].params
    assert birth["method"] == "year" and birth["top_age"] == 89  # the default label too
    assert "top_label" in birth
    assert event.fields["patient_id"].params["mode"] == "random"
    assert event.veil_version == metadata.version("veil")
    assert event.views == {"research-safe-harbor": "hipaa-safe-harbor@1"}
    assert event.accounting is not None and not event.accounting.accountable
