// The offline report: the run embedded in this file, drawn by the same QbtRunView as the
// run page. Nothing is fetched: the charting library and the data are all in the file.
(function () {
  "use strict";
  const run = JSON.parse(document.getElementById("qbt-run").textContent);
  window.QbtRunView.render(document.getElementById("report"), run);
})();
