// ringvault web UI: what every page shares. No inline scripts anywhere (Content-Security-Policy: script-src 'self');
// page scripts are files next to this one. Text from the server is set with textContent, never innerHTML.
"use strict";

window.ringvault = (function () {
  const meta = document.querySelector('meta[name="csrf-token"]');

  /** The CSRF token of this page's session (sent as X-CSRF-Token on every request that changes something). */
  function csrfToken() {
    return meta ? meta.getAttribute("content") || "" : "";
  }

  /** fetch() for the server's JSON API: same origin, the CSRF header on unsafe methods, JSON in and out. */
  async function api(path, options) {
    const opts = Object.assign({ method: "GET", headers: {} }, options || {});
    opts.credentials = "same-origin";
    if (opts.method !== "GET" && opts.method !== "HEAD") {
      opts.headers["X-CSRF-Token"] = csrfToken();
      if (opts.body !== undefined && typeof opts.body !== "string") {
        opts.headers["Content-Type"] = "application/json";
        opts.body = JSON.stringify(opts.body);
      }
    }
    const response = await fetch(path, opts);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
    if (!response.ok) {
      const message = data && data.error ? data.error : response.status + " " + response.statusText;
      throw new Error(message);
    }
    return data;
  }

  /** A JSON block written by the server with |tojson (type="application/json", never executed). */
  function pageData(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  /** An element with attributes and text children; the one way page scripts build markup. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  return { api, csrfToken, el, pageData };
})();
