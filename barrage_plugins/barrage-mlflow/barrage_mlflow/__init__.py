"""barrage-mlflow: experiment tracking with MLflow, a Barrage plugin distribution.

A hook plugin only (entry-point group ``barrage``, plugin name ``mlflow``): it adds no
component, and it uses nothing of Barrage but its public hooks.

* :mod:`barrage_mlflow.hooks`: the hook implementations (imported by every ``barrage``
  command, so it imports neither MLflow nor TensorFlow at import time);
* :mod:`barrage_mlflow.tracking`: what is logged, and how a run is found again.
"""
