"""CLV models: BG/NBD (:class:`BetaGeo`), Gamma-Gamma (:class:`GammaGamma`), and margin CLV.

>>> from loyalty.datasets import load_cdnow
>>> from loyalty.data import summarize
>>> from loyalty.clv import BetaGeo, GammaGamma, customer_lifetime_value
>>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
>>> bg, gg = BetaGeo().fit(summary), GammaGamma().fit(summary)
>>> clv = customer_lifetime_value(bg, gg, summary, horizon=12, period="M", margin_rate=0.25)
"""

from .beta_geo import BetaGeo
from .gamma_gamma import GammaGamma
from .model import CLVModel
from .nbd import NBD
from .value import customer_lifetime_value

__all__ = ["BetaGeo", "NBD", "GammaGamma", "CLVModel", "customer_lifetime_value"]
