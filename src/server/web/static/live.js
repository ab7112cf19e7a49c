// Live views: the server says "the log grew" over server-sent events; the page fetches
// itself again and swaps its <main> in, so tallies, statuses and the log head stay current.
// Without JavaScript the page is the same, just not live.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-live");
  if (!url || !window.EventSource || !window.fetch) return;
  var status = document.getElementById("live-status");
  var pending = null;
  var busy = false;
  function typing() {
    var active = document.activeElement;
    return active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }
  function refresh() {
    pending = null;
    if (busy || typing()) { pending = setTimeout(refresh, 1000); return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (next && main) main.replaceWith(next);
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  var source = new EventSource(url);
  source.addEventListener("open", function () { if (status) status.className = "on"; });
  source.addEventListener("error", function () { if (status) status.className = ""; });
  source.addEventListener("entry", function () {
    if (!pending) pending = setTimeout(refresh, 250);
  });
})();
