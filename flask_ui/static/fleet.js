// The fleet page is drawn by the server from the broker's retained topics; reload it now and then.
// Not while the tab is hidden, and not while the reader is selecting text.
setInterval(() => {
  if (document.visibilityState === "visible" && String(window.getSelection()) === "") location.reload();
}, 15000);
