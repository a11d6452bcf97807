// The activity page: a filter change reloads the page with it (the charts are drawn by the server).
"use strict";

(function () {
  const form = document.getElementById("activity-filters");
  if (!form) return;
  for (const id of ["activity-device", "activity-kind"]) {
    const select = document.getElementById(id);
    if (select) select.addEventListener("change", function () { form.submit(); });
  }
})();
