"""Parts of ``benchmarks/aa.py`` (issue 13): simulated A/A and power, and replays of real counts look by look.

* ``look_replay``: run the shipped sequential decision (``variant_comparison.compare_variants``) and the naive
  fixed-alpha z-test over a series of cumulative looks, and split real final counts into looks (hypergeometric
  thinning);
* ``simulated``: (a) simulated A/A false-winner rates (binomial and over-dispersed) and (b) power and sample size on
  planted lifts, vectorised over simulations and checked against ``compare_variants`` on a subset;
* ``real_data``: (c) the Upworthy identical-arm pairs and (d) the Hillstrom three-arm e-mail test.
"""
