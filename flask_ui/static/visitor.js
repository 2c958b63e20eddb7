// The visitors' prompt page: a live lockout countdown and current prompt; the printable code's button.
(function () {
  "use strict";
  const printButton = document.getElementById("print");
  if (printButton) printButton.addEventListener("click", () => window.print());

  const body = document.body;
  const stateUrl = body.dataset.stateUrl;
  if (!stateUrl) return;
  const lockout = document.getElementById("lockout");
  const prompt = document.getElementById("current-prompt");
  const send = document.getElementById("send");
  const expired = document.getElementById("expired");
  let skew = Date.now() / 1000 - Number(body.dataset.serverNow || Date.now() / 1000);
  let until = Number(lockout.dataset.until) || 0;

  function wait(seconds) {
    const m = Math.floor(seconds / 60), s = seconds % 60;
    return m ? `${m} min ${String(s).padStart(2, "0")} s` : `${s} s`;
  }
  function tick() {
    const left = Math.ceil(until - (Date.now() / 1000 - skew));
    lockout.textContent = left > 0 ? `a new prompt can start in ${wait(left)}` : "ready for your prompt";
  }
  async function refresh() {
    try {
      const response = await fetch(stateUrl, { headers: { Accept: "application/json" } });
      if (response.status === 403) {
        expired.hidden = false;
        send.disabled = true;
        clearInterval(polling);
        return;
      }
      if (!response.ok) return;
      const state = await response.json();
      skew = Date.now() / 1000 - state.server_now;
      until = state.lockout_until || 0;
      prompt.textContent = state.prompt || "nothing yet: be the first";
      tick();
    } catch (err) {
      // the phone lost the Wi-Fi for a moment: the next poll tries again
    }
  }
  setInterval(tick, 1000);
  const polling = setInterval(refresh, 5000);
  tick();
})();
