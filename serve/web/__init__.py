"""The web app and the report, served by the same Serve app as the API.

- `static/`: the pages (plain HTML, CSS and JavaScript modules, no build step) that read the
  same `/v1` API a script would; `static/js/charts.js` turns a result into chart options for
  Apache ECharts (`static/vendor/`, shipped with the package: nothing is fetched from outside
  the app at run time); `static/js/runview.js` draws a run, for the run page and the report.
- `assets`: where the files are, the Content-Security-Policy, the offline OpenAPI page.
- `report`: one self-contained HTML file per run (charts, tables, spec, versions).
"""
