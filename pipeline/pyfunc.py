"""The MLflow pyfunc around ``LeadScorer``, for data scientists and ``mlflow.pyfunc.spark_udf``:
``mlflow.pyfunc.load_model("models:/lead-scoring@champion")`` then ``.predict(frame)``.

It is logged from code (MLflow's models-from-code, ``pipeline/pyfunc_from_code.py``): the version stores the
scorer as data (``artifacts/scorer/``: JSON and LightGBM's model text) and a three-line script that imports
this class from the installed leadscore; nothing is pickled. Loading it needs leadscore installed. The
nightly job does not use this class at all: ``pipeline.tracking.load_champion`` reads the data files itself.

The stock LightGBM flavour cannot carry pandas categoricals through a signature; this wrapper declares text
columns (the signature is given explicitly at logging) and lets the scorer cast them to the training
categories.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from pipeline.model_artifacts import read_scorer


class LeadScoringModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.scorer = read_scorer(Path(context.artifacts["scorer"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """``params={"reasons": True}`` adds the reasons columns (from the family's contributions; only when asked)."""
        return self.scorer.predict(model_input, reasons=bool((params or {}).get("reasons", False)))
