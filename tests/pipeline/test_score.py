"""Which leads get reasons: the top of each owner's queue, where sales reads."""

import numpy as np
import pandas as pd

from pipeline.steps.score import leads_sales_reads


def _scores():
    return pd.DataFrame({
        "lead_id": [1, 2, 3, 4, 5, 6, 7],
        "probability": [0.9, 0.1, 0.5, 0.7, 0.2, 0.3, 0.3],
        "owner_id": ["ann", "ann", "bob", "ann", "bob", None, None],
    })


def test_each_owner_gets_reasons_for_their_best_leads():
    chosen = leads_sales_reads(_scores(), per_owner=2)
    # ann: 0.9 (1), 0.7 (4) but not 0.1 (2); bob: both; no owner: a queue of its own (tie broken by lead_id)
    assert _scores()["lead_id"][chosen].tolist() == [1, 3, 4, 5, 6, 7]
    assert _scores()["lead_id"][leads_sales_reads(_scores(), per_owner=1)].tolist() == [1, 3, 6]


def test_no_limit_explains_every_lead():
    assert leads_sales_reads(_scores(), per_owner=None).all()
    assert leads_sales_reads(_scores().iloc[:0], per_owner=3).dtype == np.bool_
