"""The MLflow pyfunc wrapper around ``LeadScorer``: what ``models:/lead-scoring@champion`` loads.

The stock LightGBM flavour cannot carry pandas categoricals through a signature; this wrapper declares
text columns (the signature is given explicitly at logging) and lets the scorer cast them to the
training categories.
"""

from __future__ import annotations

import joblib
import mlflow.pyfunc
import pandas as pd


class LeadScoringModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.scorer = joblib.load(context.artifacts["scorer"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """``params={"reasons": True}`` adds the reasons columns (TreeSHAP: slower, so only when asked)."""
        return self.scorer.predict(model_input, reasons=bool((params or {}).get("reasons", False)))
