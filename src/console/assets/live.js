// Live updates for console pages whose <main> names a stream in data-live.
// When the stream says a collection changed, the page is fetched again
// (same URL, same cookies and certificate) and its <main> replaced. The
// stream carries no content of its own; what shows is what the page renders.
// Loaded from the console's own assets: no inline script, no handler
// attributes, nothing from elsewhere.
"use strict";
(function () {
  var main = document.querySelector("main[data-live]");
  var state = document.getElementById("live-state");
  if (!main || !window.EventSource || !window.fetch || !window.DOMParser) {
    if (state) state.textContent = "Reload to refresh.";
    return;
  }
  var running = false;
  var again = false;
  var connected = false;

  function say(text) {
    if (state) state.textContent = text;
  }

  function refresh() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (text) {
        var page = new DOMParser().parseFromString(text, "text/html");
        var fresh = page.querySelector("main[data-live]");
        if (fresh) {
          var adopted = document.importNode(fresh, true);
          main.replaceWith(adopted);
          main = adopted;
          document.documentElement.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () {
        say("Could not refresh; reload the page.");
      })
      .then(function () {
        running = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource(main.getAttribute("data-live"));
  source.addEventListener("open", function () {
    say("This page updates as objects arrive.");
    document.documentElement.setAttribute("data-live-connected", "true");
    // A reconnection may have missed changes: catch up once.
    if (connected) refresh();
    connected = true;
  });
  source.addEventListener("change", refresh);
  source.addEventListener("error", function () {
    document.documentElement.setAttribute("data-live-connected", "false");
    // Refused (signed out, access withdrawn) or not a stream: the browser
    // gives up; otherwise it reconnects by itself.
    say(source.readyState === EventSource.CLOSED
      ? "Live updates stopped; reload the page."
      : "Live updates paused; reconnecting.");
  });
})();
