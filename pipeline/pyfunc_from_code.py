"""MLflow models-from-code: the script a model version stores in place of a pickled python model.

``mlflow.pyfunc.load_model`` runs it; it builds the pyfunc from this project's installed code, and the pyfunc
reads the version's data artifacts (``pipeline.pyfunc``).
"""

from mlflow.models import set_model

from pipeline.pyfunc import LeadScoringModel

set_model(LeadScoringModel())
