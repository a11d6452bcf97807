// The Sync page: start a sync (POST /api/sync, CSRF header through ringvault.api), follow its job about once a
// second while it is queued or running, show its one-line error when it fails, and refresh the last runs when it ends.
// Text is set with textContent / ringvault.el only.
"use strict";

(function () {
  const rv = window.ringvault;
  const form = document.getElementById("sync-form");
  if (!form) return;
  const button = document.getElementById("sync-start");
  const stateLine = document.getElementById("sync-state");
  const bar = document.getElementById("sync-progress");
  const errorLine = document.getElementById("sync-error");
  const runsBody = document.getElementById("runs-body");
  const POLL_MS = 1000;
  let polling = null;

  /** "2026-12-06T19:30:00.123+00:00" → "2026-12-06 19:30:00" (UTC, as the server renders it). */
  function when(iso) {
    return iso ? iso.replace("T", " ").slice(0, 19) : "—";
  }

  function showError(message) {
    errorLine.textContent = message;
    errorLine.hidden = !message;
  }

  function requestBody() {
    const body = {};
    const days = parseInt(form.elements.days.value, 10);
    if (days > 0) {
      const since = new Date(Date.now() - days * 86400000);
      body.since = since.toISOString().slice(0, 10);
    }
    if (form.elements.kind.value) body.kind = [form.elements.kind.value];
    if (form.elements.newest_first.checked) body.newest_first = true;
    if (form.elements.retry_failed.checked) body.retry_failed = true;
    if (form.elements.metadata_only.checked) body.metadata_only = true;
    return body;
  }

  function describe(job) {
    if (job.state === "queued") {
      return "Queued" + (job.queue_position ? " (position " + job.queue_position + ")" : "") + "…";
    }
    if (job.state === "running") {
      const p = job.progress;
      if (!p) return "Starting…";
      const phases = {
        history: "Reading event history", media: "Downloading recordings", hub: "Reading the alarm and lighting hubs",
        wait: "Waiting for another sync",
      };
      const phase = Object.prototype.hasOwnProperty.call(phases, p.phase) ? phases[p.phase] : p.phase;
      const count = p.total ? " " + p.done + " of " + p.total : "";
      return phase + count + (p.message ? " — " + p.message : "");
    }
    if (job.state === "done") {
      const s = job.summary || {};
      return "Finished: " + (s.new || 0) + " new events, " + (s.downloaded || 0) + " downloaded, " + (s.pending || 0)
        + " pending, " + (s.failed || 0) + " failed, " + (s.given_up || 0) + " given up.";
    }
    return "The sync failed.";
  }

  function showJob(job) {
    stateLine.textContent = describe(job);
    stateLine.dataset.state = job.state;
    const p = job.progress;
    if (job.state === "running" && p && p.total > 0) {
      bar.max = p.total;
      bar.value = Math.min(p.done, p.total);
      bar.hidden = false;
    } else if (job.state === "running") {
      bar.removeAttribute("value");  // indeterminate
      bar.hidden = false;
    } else {
      bar.hidden = true;
    }
    if (job.state === "failed") showError(job.error || "the sync failed");
  }

  function cell(label, value, field) {
    return rv.el("td", { "data-label": label, "data-field": field }, value === null || value === undefined ? "—" : value);
  }

  function runRow(job) {
    const s = job.summary;
    const pick = (name) => (s ? s[name] : null);
    return rv.el("tr", { "data-job-id": job.id },
      cell("Started", when(job.started_at)), cell("Finished", when(job.finished_at)), cell("State", job.state),
      cell("New events", pick("new"), "new"), cell("Downloaded", pick("downloaded"), "downloaded"),
      cell("Pending", pick("pending"), "pending"), cell("Failed", pick("failed"), "failed"),
      cell("Given up", pick("given_up"), "given_up"), cell("Error", job.error || ""));
  }

  async function refreshRuns() {
    try {
      const jobs = await rv.api("/api/jobs");
      runsBody.replaceChildren(...jobs.slice(0, 20).map(runRow));
      if (!jobs.length) {
        runsBody.append(rv.el("tr", { class: "none" }, rv.el("td", { colspan: 9, class: "muted" },
          "No sync has run since the server started.")));
      }
    } catch (error) {
      showError("Could not read the last runs: " + error.message);
    }
  }

  /** After a run, the left-behind section as the server renders it now: the page is fetched again and its section
   * (server-escaped HTML, parsed into an inert document: nothing in it runs) replaces this one. */
  async function refreshLeftBehind() {
    const section = document.getElementById("left-behind");
    try {
      const response = await fetch(window.location.pathname + window.location.search, { credentials: "same-origin" });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("left-behind");
      if (section && fresh) section.replaceWith(document.importNode(fresh, true));
    } catch (error) {
      showError("Could not refresh the recordings left behind: " + error.message);
    }
  }

  function follow(jobId) {
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    async function tick() {
      let job;
      try {
        job = await rv.api("/api/jobs/" + encodeURIComponent(jobId));
      } catch (error) {
        showError(error.message);
        finish();
        return;
      }
      showJob(job);
      if (job.state === "queued" || job.state === "running") {
        polling = window.setTimeout(tick, POLL_MS);
      } else {
        finish();
        await Promise.all([refreshRuns(), refreshLeftBehind()]);
        document.body.dataset.syncFinished = job.id;
      }
    }
    tick();
  }

  function finish() {
    polling = null;
    button.disabled = false;
    form.removeAttribute("aria-busy");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (polling !== null) return;
    showError("");
    stateLine.textContent = "Starting a sync…";
    button.disabled = true;
    try {
      const accepted = await rv.api("/api/sync", { method: "POST", body: requestBody() });
      follow(accepted.job_id);
    } catch (error) {
      showError(error.message);
      stateLine.textContent = "No sync was started.";
      button.disabled = false;
    }
  });

  const active = form.dataset.activeJob;
  if (active) follow(active);
})();
