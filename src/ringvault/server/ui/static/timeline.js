// The timeline page: infinite scroll over the server's keyset pages, and the live "new events" indicator.
// Rows come from /timeline/rows (rendered and escaped by the server, the same template as the first page); the
// "Load more" link is a real link to the next page, so keyboards and browsers without JavaScript page on with it.
"use strict";

(function () {
  const tbody = document.getElementById("timeline-rows");
  const more = document.getElementById("timeline-more");
  const status = document.getElementById("timeline-status");
  let loading = false;

  /** Fetch the next page's rows and append them; the link then points at the page after (or goes away). */
  async function loadMore() {
    if (loading || !more || !more.dataset.rows) return;
    loading = true;
    more.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(more.dataset.rows, { credentials: "same-origin" });
      const text = await response.text();
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      // DOMParser builds an inert document (no script runs); the rows are the server's escaped HTML.
      const doc = new DOMParser().parseFromString(text, "text/html");
      const body = doc.querySelector("tbody");
      if (!body) throw new Error("the server sent no rows");
      const seen = new Set(Array.from(tbody.querySelectorAll("tr[data-event-id]"), (tr) => tr.dataset.eventId));
      let added = 0;
      for (const row of Array.from(body.querySelectorAll("tr[data-event-id]"))) {
        if (seen.has(row.dataset.eventId)) continue; // a page never repeats an event; this guards a double load
        tbody.append(document.adoptNode(row));
        added += 1;
      }
      if (body.dataset.next) {
        more.href = body.dataset.next;
        more.dataset.rows = body.dataset.rows;
      } else {
        more.remove();
        if (observer) observer.disconnect();
      }
      status.textContent = added + " more events loaded (" + tbody.rows.length + " shown)" +
        (body.dataset.next ? "." : "; that is all of them.");
    } catch (error) {
      status.textContent = "Could not load more events: " + error.message + ". Use the Load more link to try again.";
      if (observer) observer.disconnect();
      observer = null; // no retry loop: the link stays, and a click tries again
    } finally {
      loading = false;
      if (more.isConnected) more.removeAttribute("aria-busy");
    }
    // The observer reports changes only: on a screen tall enough that the link is still in reach, go on.
    if (observer && more.isConnected && more.getBoundingClientRect().top < window.innerHeight + 400) {
      window.setTimeout(loadMore, 0);
    }
  }

  let observer = null;
  if (tbody && more) {
    more.addEventListener("click", (event) => {
      event.preventDefault();
      loadMore();
    });
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver((entries) => {
        if (entries.some((entry) => entry.isIntersecting)) loadMore();
      }, { rootMargin: "400px 0px" });
      observer.observe(more);
    }
  }

  // -- live "new events" indicator ------------------------------------------------------------------------------
  // Only when the server has GET /api/events/stream (it writes the path into data-stream, else leaves it empty:
  // nothing is requested). Counts the events Ring reports while the page is open and offers to show them; the
  // indicator is fixed at the bottom of the window, so what the user is reading does not move. Opened 2 s after
  // the page loaded: the first page's images come first, and "network idle" tools see the page settle.
  const box = document.getElementById("timeline-new");
  const button = document.getElementById("timeline-new-button");
  const NEW_EVENT_KINDS = ["ding", "motion", "intercom_ding", "on_demand"];
  function startLive() {
    const url = box && box.dataset.stream;
    if (!url || !("EventSource" in window)) return;
    let count = 0;
    const source = new EventSource(url);
    const onEvent = () => {
      count += 1;
      button.textContent = count + (count === 1 ? " new event" : " new events") + " — show";
      box.hidden = false;
    };
    for (const kind of NEW_EVENT_KINDS) source.addEventListener(kind, onEvent);
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED && count === 0) box.hidden = true;
    });
    button.addEventListener("click", () => {
      source.close();
      window.location.assign(box.dataset.first || "/timeline");
    });
  }
  if (box && box.dataset.stream) {
    const later = () => window.setTimeout(startLive, 2000);
    if (document.readyState === "complete") later();
    else window.addEventListener("load", later, { once: true });
  }
})();
