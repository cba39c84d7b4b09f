"""CLV models: BG/NBD (:class:`BetaGeo`), Gamma-Gamma (:class:`GammaGamma`), and margin CLV.

>>> from loyalty.datasets import load_cdnow
>>> from loyalty.data import summarize
>>> from loyalty.clv import BetaGeo, GammaGamma, customer_lifetime_value
>>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
>>> bg, gg = BetaGeo().fit(summary), GammaGamma().fit(summary)
>>> clv = customer_lifetime_value(bg, gg, summary, horizon=12, period="M", margin_rate=0.25)
"""

from .beta_geo import BetaGeo
from .beta_geo_beta_binom import BetaGeoBetaBinom
from .compare import TRANSACTION_MODELS, compare_models
from .gamma_gamma import GammaGamma
from .model import CLVModel
from .modified_beta_geo import ModifiedBetaGeo
from .nbd import NBD
from .pareto_nbd import ParetoNBD
from .shifted_beta_geo import ShiftedBetaGeo
from .value import customer_lifetime_value

__all__ = [
    "BetaGeo", "GammaGamma", "CLVModel", "customer_lifetime_value",
    "ModifiedBetaGeo", "BetaGeoBetaBinom", "ShiftedBetaGeo",
    "ParetoNBD", "NBD", "compare_models", "TRANSACTION_MODELS",
]
