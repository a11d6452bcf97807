// The snapshots page: a time-lapse player over the day's snapshots (ids from the JSON block #tl-frames), and
// picking a camera reloads the page with that camera's newest day. Images are fetched by media id only.
"use strict";

(function () {
  const filters = document.getElementById("snapshot-filters");
  const deviceSelect = document.getElementById("snapshot-device");
  if (filters && deviceSelect) {
    deviceSelect.addEventListener("change", function () {
      const day = document.getElementById("snapshot-day");
      if (day) day.disabled = true; // another camera: its own newest day
      filters.submit();
    });
  }
  const daySelect = document.getElementById("snapshot-day");
  if (filters && daySelect) daySelect.addEventListener("change", function () { filters.submit(); });

  const player = document.getElementById("timelapse");
  const data = window.ringvault.pageData("tl-frames");
  if (!player || !data || !data.frames.length) return;
  const frames = data.frames; // [[media id, "local time"], ...] in capture order
  const image = document.getElementById("tl-image");
  const caption = document.getElementById("tl-caption");
  const slider = document.getElementById("tl-slider");
  const position = document.getElementById("tl-position");
  const play = document.getElementById("tl-play");
  const speed = document.getElementById("tl-speed");
  const PRELOAD = 4;
  const preloaded = new Map();
  let index = 0;
  let timer = null;

  function url(i) { return "/snapshots/media/" + frames[i][0]; }

  function preload(from) {
    for (let i = from + 1; i <= Math.min(from + PRELOAD, frames.length - 1); i++) {
      if (!preloaded.has(i)) {
        const img = new Image();
        img.src = url(i);
        preloaded.set(i, img);
      }
    }
    for (const key of preloaded.keys()) { if (key < from - 1) preloaded.delete(key); }
  }

  function show(i) {
    index = Math.max(0, Math.min(frames.length - 1, i));
    image.src = url(index);
    image.alt = data.name + " at " + frames[index][1];
    image.dataset.index = String(index);
    image.dataset.mediaId = String(frames[index][0]);
    caption.textContent = frames[index][1];
    slider.value = String(index);
    position.textContent = (index + 1) + " / " + frames.length;
    preload(index);
  }

  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    play.textContent = "Play";
    play.setAttribute("aria-pressed", "false");
  }

  function start() {
    if (index >= frames.length - 1) show(0);
    stop();
    timer = setInterval(function () {
      if (index >= frames.length - 1) { stop(); return; }
      show(index + 1);
    }, 1000 / Number(speed.value));
    play.textContent = "Pause";
    play.setAttribute("aria-pressed", "true");
  }

  function toggle() { if (timer === null) start(); else stop(); }

  play.addEventListener("click", toggle);
  document.getElementById("tl-prev").addEventListener("click", function () { stop(); show(index - 1); });
  document.getElementById("tl-next").addEventListener("click", function () { stop(); show(index + 1); });
  slider.addEventListener("input", function () { stop(); show(Number(slider.value)); });
  speed.addEventListener("change", function () { if (timer !== null) start(); });

  player.addEventListener("keydown", function (event) {
    const target = event.target;
    const tag = target && target.tagName;
    if (tag === "SELECT") return;
    if (event.key === " " && tag !== "BUTTON") { event.preventDefault(); toggle(); return; }
    if (tag === "INPUT") return; // the slider moves itself with the arrow keys
    const steps = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in steps) { event.preventDefault(); stop(); show(index + steps[event.key]); }
    else if (event.key === "Home") { event.preventDefault(); stop(); show(0); }
    else if (event.key === "End") { event.preventDefault(); stop(); show(frames.length - 1); }
  });

  // A thumbnail of the gallery opens that snapshot in the player (its link still opens the full image without JS).
  document.querySelectorAll(".snapshot-grid a[data-index]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      stop();
      show(Number(link.dataset.index));
      player.scrollIntoView({ block: "nearest" });
      player.focus();
    });
  });
  preload(0);
})();
