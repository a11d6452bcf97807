// The live view page: the browser's RTCPeerConnection receives the camera's video and audio, which the server
// relays (POST /api/live/{device} with the offer, the answer carries the server's candidates; DELETE ends it).
"use strict";

(function () {
  const section = document.querySelector("section.live");
  if (!section) return;
  const deviceId = section.dataset.deviceId;
  const video = document.getElementById("live-video");
  const startButton = document.getElementById("live-start");
  const stopButton = document.getElementById("live-stop");
  const status = document.getElementById("live-status");
  let pc = null;
  let sessionId = null;

  function say(text, state) {
    status.textContent = text;
    section.dataset.state = state;
  }

  /** Wait until the peer connection has gathered its candidates (the server answers once; nothing trickles). */
  function gathered(peer) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      const done = function () {
        if (peer.iceGatheringState === "complete") {
          peer.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 5000); // whatever was gathered by then
    });
  }

  function release() {
    if (pc) {
      pc.close();
      pc = null;
    }
    video.srcObject = null;
    startButton.disabled = false;
    stopButton.disabled = true;
  }

  async function start() {
    startButton.disabled = true;
    stopButton.disabled = false;
    say("connecting", "connecting");
    const peer = new RTCPeerConnection({ iceServers: [] });
    pc = peer;
    peer.addTransceiver("video", { direction: "recvonly" });
    peer.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    peer.addEventListener("track", function (event) {
      stream.addTrack(event.track);
      video.srcObject = stream;
    });
    peer.addEventListener("connectionstatechange", function () {
      if (pc !== peer) return;
      if (peer.connectionState === "connected") say("live", "live");
      else if (["failed", "closed", "disconnected"].includes(peer.connectionState)) {
        say("ended: the live view stopped (" + peer.connectionState + ")", "ended");
        release();
      }
    });
    try {
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer);
      const answer = await ringvault.api("/api/live/" + encodeURIComponent(deviceId), {
        method: "POST",
        body: { sdp: peer.localDescription.sdp, type: "offer" },
      });
      if (pc !== peer) { // stopped while the server was starting it
        await ringvault.api("/api/live/sessions/" + encodeURIComponent(answer.session), { method: "DELETE" });
        return;
      }
      sessionId = answer.session;
      await peer.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } catch (error) {
      if (pc === peer) {
        say("error: " + error.message, "error");
        release();
      }
    }
  }

  async function stop() {
    const id = sessionId;
    const peer = pc;
    sessionId = null;
    pc = null; // its state changes are no longer reported
    stopButton.disabled = true;
    say("stopping", "stopping");
    let note = "";
    if (id) {
      // first the DELETE, then the peer connection: closing it first would end the relay before the DELETE came
      try {
        await ringvault.api("/api/live/sessions/" + encodeURIComponent(id), { method: "DELETE" });
      } catch (error) {
        note = " (" + error.message + ")";
      }
    }
    if (peer) peer.close();
    release();
    say("stopped" + note, "stopped");
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  window.addEventListener("pagehide", function () {
    if (sessionId) {
      // the relay also ends by itself when the peer connection closes; this tells the server at once
      fetch("/api/live/sessions/" + encodeURIComponent(sessionId), {
        method: "DELETE", keepalive: true, credentials: "same-origin",
        headers: { "X-CSRF-Token": ringvault.csrfToken() },
      });
    }
  });
})();
