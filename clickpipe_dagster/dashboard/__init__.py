"""The dashboard over the marts: one design, two renderings.

- ``datasets.py``: one dataset per RDS mart table (columns and types from the mart contract).
- ``definition.py``: the visuals (ids and titles both renderings use) and the QuickSight dashboard
  ``Definition`` (five sheets: visuals, calculated fields, filters, controls, layouts), in one module to review.
- ``page.py`` + ``page.html``/``page.js``/``page.css``: the local rendering, a self-contained HTML page
  with Chart.js (``vendor/``) and the marts embedded as JSON.
"""
