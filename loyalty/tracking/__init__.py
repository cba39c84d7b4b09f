"""MLflow for ``loyalty``: where runs go and what every run records (:mod:`.runs`), and models as pyfunc
models, registered with aliases and loaded back (:mod:`.models`)."""

from .models import (
    CHALLENGER,
    CHAMPION,
    FamilyPyfunc,
    SignatureMismatchError,
    check_signature,
    load_by_alias,
    log_model,
    model_input,
    promote,
    registered_name,
)
from .runs import (
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_TRACKING_URI,
    ensure_experiment,
    flatten,
    git_commit,
    log_accounting,
    log_spec,
    resolve_tracking_uri,
    tracked_run,
    use_tracking,
)

__all__ = [
    "DEFAULT_TRACKING_URI", "DEFAULT_ARTIFACT_ROOT", "resolve_tracking_uri", "use_tracking", "ensure_experiment",
    "tracked_run", "log_spec", "log_accounting", "flatten", "git_commit",
    "CHALLENGER", "CHAMPION", "FamilyPyfunc", "registered_name", "model_input", "log_model", "promote",
    "load_by_alias", "check_signature", "SignatureMismatchError",
]
